//! `solab exporter`'s exposition: a [`Reading`] in the Prometheus text format (0.0.4) or
//! in OpenMetrics 1.0, written by the `prometheus-client` crate, which escapes label values
//! (`\\`, `\"`, `\n`) and help texts.
//!
//! Every metric is in [`METRICS`], its one definition (name, unit, labels, meaning);
//! `docs/src/reference.md` repeats the table (tested). Label values other users choose
//! (command names, cgroup paths, object paths) are cut by [`label`] to [`LABEL_MAX`] bytes.
//! How many label sets there are is bounded by the reading (see
//! [`crate::commands::exporter`]).

use crate::commands::exporter::{FamilyReading, Reading, Rest, ScanStats};
use crate::commands::family::Inherited;
use crate::commands::ps::{Cost, PsCounts};
use crate::kernel::Evidence;
use crate::kernel::config::Mapcount;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

/// The longest label value exported, in bytes. A longer one keeps its first bytes (whole
/// characters), then `…~` and 8 hex digits of a hash of the whole value, so that two long
/// values that begin alike stay two label values.
pub const LABEL_MAX: usize = 128;

/// The media type of the Prometheus text format.
pub const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The media type of OpenMetrics.
pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The unit a metric's name ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricUnit {
    None,
    Bytes,
    Seconds,
}

/// One metric: all gauges (each reading is a new measurement, nothing accumulates).
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// The name after `solab_` and before the unit.
    pub name: &'static str,
    pub unit: MetricUnit,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl Metric {
    /// The name as exported: `solab_NAME_UNIT`.
    pub fn full_name(&self) -> String {
        match self.unit {
            MetricUnit::None => format!("solab_{}", self.name),
            MetricUnit::Bytes => format!("solab_{}_bytes", self.name),
            MetricUnit::Seconds => format!("solab_{}_seconds", self.name),
        }
    }
}

const fn m(
    name: &'static str,
    unit: MetricUnit,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        unit,
        labels,
        help,
    }
}

use MetricUnit::{Bytes, None as Count, Seconds};
const GROUP: &[&str] = &["by", "group"];
const OBJECT: &[&str] = &["object"];
const FAMILY: &[&str] = &["root_comm", "root_cgroup"];
const WORKER: &[&str] = &["root_comm", "root_cgroup", "comm", "worker"];

/// Every metric `solab exporter` exports, with its one definition.
pub const METRICS: &[Metric] = &[
    m(
        "evidence",
        Count,
        &["evidence"],
        "1 for the evidence of this reading: frames (page frame numbers, CAP_SYS_ADMIN), or weak (smaps figures and pagemap bits: every figure of the reading is weak)",
    ),
    m(
        "kernel_mapcount",
        Count,
        &["mode"],
        "1 for what the kernel's page counts mean: per-page, folio-average (CONFIG_NO_PAGE_MAPCOUNT) or unknown",
    ),
    m(
        "scan_duration",
        Seconds,
        &["scan"],
        "how long the reading's scan took: ps (the groups), libs (the objects), family (finding the families and reading each)",
    ),
    m(
        "scan_processes",
        Count,
        &["scan", "state"],
        "processes the scan met, by state: scanned, vanished (exited meanwhile), unreadable (refused, or its map still being read at the deadline), no_memory_map (kernel threads, zombies), deadline (not read: the reading's --deadline had passed)",
    ),
    m(
        "scan_truncated",
        Count,
        &["scan"],
        "1 when the reading's --deadline passed before this scan ended: its figures cover the processes read (scan_processes by state) and the families read (families_late), 0 otherwise",
    ),
    m(
        "machine_rss",
        Bytes,
        &[],
        "RSS summed over every process scanned (as solab ps totals)",
    ),
    m(
        "machine_pss",
        Bytes,
        &[],
        "PSS summed over every process scanned",
    ),
    m(
        "machine_uss",
        Bytes,
        &[],
        "USS summed over every process scanned",
    ),
    m(
        "machine_swap",
        Bytes,
        &[],
        "swap summed over every process scanned",
    ),
    m(
        "group_processes",
        Count,
        GROUP,
        "processes of the group (solab ps --by)",
    ),
    m(
        "group_rss",
        Bytes,
        GROUP,
        "RSS summed over the group's processes",
    ),
    m(
        "group_pss",
        Bytes,
        GROUP,
        "PSS summed over the group's processes",
    ),
    m(
        "group_uss",
        Bytes,
        GROUP,
        "USS summed over the group's processes",
    ),
    m(
        "group_swap",
        Bytes,
        GROUP,
        "swap summed over the group's processes",
    ),
    m(
        "group_alone",
        Bytes,
        GROUP,
        "ALONE: distinct frames the group's processes map, each counted once (frames only)",
    ),
    m(
        "group_only",
        Bytes,
        GROUP,
        "ONLY: frames of the group no process outside it maps (frames only)",
    ),
    m(
        "group_with_rest",
        Bytes,
        GROUP,
        "WITH-REST: frames of the group a process outside it maps too (frames only)",
    ),
    m(
        "other_groups",
        Count,
        &["by"],
        "groups beyond --groups, summed in the other_groups metrics",
    ),
    m(
        "other_groups_processes",
        Count,
        &["by"],
        "processes of the groups beyond --groups",
    ),
    m(
        "other_groups_rss",
        Bytes,
        &["by"],
        "RSS summed over the groups beyond --groups",
    ),
    m(
        "other_groups_pss",
        Bytes,
        &["by"],
        "PSS summed over the groups beyond --groups",
    ),
    m(
        "other_groups_uss",
        Bytes,
        &["by"],
        "USS summed over the groups beyond --groups",
    ),
    m(
        "other_groups_swap",
        Bytes,
        &["by"],
        "swap summed over the groups beyond --groups",
    ),
    m(
        "object_processes",
        Count,
        OBJECT,
        "processes mapping the shared object (solab libs)",
    ),
    m(
        "object_resident",
        Bytes,
        OBJECT,
        "the object's resident pages summed over its processes",
    ),
    m(
        "object_frames",
        Bytes,
        OBJECT,
        "the object's distinct frames (frames only)",
    ),
    m(
        "object_saved",
        Bytes,
        OBJECT,
        "memory the object's sharing saves: resident less distinct frames (weak: an smaps estimate)",
    ),
    m(
        "other_objects",
        Count,
        &[],
        "objects beyond --libs, summed in the other_objects metrics",
    ),
    m(
        "other_objects_resident",
        Bytes,
        &[],
        "resident pages of the objects beyond --libs",
    ),
    m(
        "other_objects_frames",
        Bytes,
        &[],
        "distinct frames of the objects beyond --libs (frames only)",
    ),
    m(
        "other_objects_saved",
        Bytes,
        &[],
        "memory saved by the objects beyond --libs",
    ),
    m(
        "family_members",
        Count,
        FAMILY,
        "processes below the root of a family",
    ),
    m(
        "family_unreadable",
        Count,
        FAMILY,
        "processes below the root that could not be read",
    ),
    m(
        "family_parents_frame",
        Bytes,
        FAMILY,
        "anonymous memory of the members below the root still their parent's frame",
    ),
    m(
        "family_copied",
        Bytes,
        FAMILY,
        "anonymous memory of the members below the root copied since fork",
    ),
    m(
        "family_new",
        Bytes,
        FAMILY,
        "anonymous memory of the members below the root that is new since fork",
    ),
    m(
        "family_looks_inherited",
        Bytes,
        FAMILY,
        "weak only: anonymous memory with pagemap bit 56 clear in member and parent",
    ),
    m(
        "family_worker_parents_frame",
        Bytes,
        WORKER,
        "a member's anonymous memory still its parent's frame",
    ),
    m(
        "family_worker_copied",
        Bytes,
        WORKER,
        "a member's anonymous memory copied since fork",
    ),
    m(
        "family_worker_new",
        Bytes,
        WORKER,
        "a member's anonymous memory that is new since fork",
    ),
    m(
        "family_worker_looks_inherited",
        Bytes,
        WORKER,
        "weak only: a member's anonymous memory with bit 56 clear in it and its parent",
    ),
    m(
        "families_missing",
        Count,
        &[],
        "family roots that could not be read (exited: no family)",
    ),
    m(
        "other_families",
        Count,
        &[],
        "fork families found beyond --families, not exported (only when the families are found, not named)",
    ),
    m(
        "families_late",
        Count,
        &[],
        "families found or named but not exported because the reading's --deadline had passed before they were read whole",
    ),
];

/// A label value as exported: each byte of a command name that is not UTF-8
/// ([`byte_of_char`](crate::kernel::process::byte_of_char)) written `\xNN`, as the text
/// output shows it (two such names stay two label values), and at most [`LABEL_MAX`] bytes.
pub fn label(value: &str) -> String {
    let value = &bytes_escaped(value);
    if value.len() <= LABEL_MAX {
        return value.to_string();
    }
    // FNV-1a over the whole value.
    let hash = value.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let tail = format!("…~{hash:08x}");
    let mut cut = LABEL_MAX - tail.len();
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tail}", &value[..cut])
}

/// `value` with each character that stands for a byte of a name that is not UTF-8 written
/// `\xNN`.
fn bytes_escaped(value: &str) -> std::borrow::Cow<'_, str> {
    use crate::kernel::process::byte_of_char;
    if !value.chars().any(|c| byte_of_char(c).is_some()) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match byte_of_char(c) {
            Some(b) => out.push_str(&format!("\\x{b:02x}")),
            None => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

type Labels = Vec<(String, String)>;

enum Gauges {
    Int(Family<Labels, Gauge<i64>>),
    Float(Family<Labels, Gauge<f64, AtomicU64>>),
}

/// The metrics of one exposition, each registered when it gets its first value.
struct Exposition {
    registry: Registry,
    gauges: HashMap<&'static str, Gauges>,
}

impl Exposition {
    fn new() -> Exposition {
        Exposition {
            registry: Registry::with_prefix("solab"),
            gauges: HashMap::new(),
        }
    }

    fn metric(name: &str) -> &'static Metric {
        METRICS
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("metric {name} is not in METRICS"))
    }

    fn labels(metric: &Metric, values: &[&str]) -> Labels {
        debug_assert_eq!(metric.labels.len(), values.len(), "{}", metric.name);
        metric
            .labels
            .iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), label(v)))
            .collect()
    }

    fn register(&mut self, metric: &'static Metric, float: bool) -> &Gauges {
        let registry = &mut self.registry;
        self.gauges.entry(metric.name).or_insert_with(|| {
            if float {
                let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
                add(registry, metric, f.clone());
                Gauges::Float(f)
            } else {
                let f = Family::<Labels, Gauge<i64>>::default();
                add(registry, metric, f.clone());
                Gauges::Int(f)
            }
        })
    }

    fn set(&mut self, name: &str, values: &[&str], v: u64) {
        let metric = Self::metric(name);
        let labels = Self::labels(metric, values);
        if let Gauges::Int(f) = self.register(metric, false) {
            f.get_or_create(&labels)
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }

    fn set_f64(&mut self, name: &str, values: &[&str], v: f64) {
        let metric = Self::metric(name);
        let labels = Self::labels(metric, values);
        if let Gauges::Float(f) = self.register(metric, true) {
            f.get_or_create(&labels).set(v);
        }
    }
}

fn add(reg: &mut Registry, metric: &Metric, m: impl prometheus_client::registry::Metric) {
    match metric.unit {
        MetricUnit::None => reg.register(metric.name, metric.help, m),
        MetricUnit::Bytes => reg.register_with_unit(metric.name, metric.help, Unit::Bytes, m),
        MetricUnit::Seconds => reg.register_with_unit(metric.name, metric.help, Unit::Seconds, m),
    }
}

/// The reading as an exposition: OpenMetrics with `openmetrics`, else the Prometheus text
/// format (the same lines without `# UNIT` and `# EOF`).
pub fn render(r: &Reading, openmetrics: bool) -> String {
    let mut e = Exposition::new();
    let weak = r.evidence != Evidence::Frames;
    e.set("evidence", &[if weak { "weak" } else { "frames" }], 1);
    let mode = match r.mapcount {
        Mapcount::PerPage => "per-page",
        Mapcount::FolioAverage => "folio-average",
        Mapcount::Unknown => "unknown",
    };
    e.set("kernel_mapcount", &[mode], 1);
    scan(&mut e, "ps", &r.ps);
    if let Some(libs) = &r.libs {
        scan(&mut e, "libs", libs);
    }
    if let Some(f) = &r.family {
        e.set_f64("scan_duration", &["family"], f.seconds);
        e.set("scan_truncated", &["family"], f.truncated.into());
        e.set("families_missing", &[], r.families_missing.into());
        e.set("families_late", &[], r.families_late.into());
    }
    if let Some(beyond) = r.families_beyond {
        e.set("other_families", &[], beyond.into());
    }
    cost(&mut e, "machine", &[], &r.totals);
    let by = r.by.name();
    for g in &r.groups {
        let values = [by, g.key.as_str()];
        e.set("group_processes", &values, g.processes.into());
        cost(&mut e, "group", &values, &g.cost);
        if let Some(f) = g.frames {
            e.set("group_alone", &values, f.alone);
            e.set("group_only", &values, f.only);
            e.set("group_with_rest", &values, f.with_rest);
        }
    }
    e.set("other_groups", &[by], r.groups_rest.count.into());
    e.set(
        "other_groups_processes",
        &[by],
        r.groups_rest.processes.into(),
    );
    cost(&mut e, "other_groups", &[by], &r.groups_rest.cost);
    if r.libs.is_some() {
        objects(&mut e, r, weak);
    }
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for f in &r.families {
        family(&mut e, f, &mut seen, weak);
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &e.registry);
    if openmetrics {
        out
    } else {
        out.lines()
            .filter(|l| !l.starts_with("# UNIT ") && *l != "# EOF")
            .flat_map(|l| [l, "\n"])
            .collect()
    }
}

fn scan(e: &mut Exposition, name: &str, s: &ScanStats) {
    e.set_f64("scan_duration", &[name], s.seconds);
    e.set("scan_truncated", &[name], s.truncated.into());
    let PsCounts {
        scanned,
        vanished,
        unreadable,
        no_memory_map,
        ..
    } = s.counts;
    for (state, n) in [
        ("scanned", scanned),
        ("vanished", vanished),
        ("unreadable", unreadable),
        ("no_memory_map", no_memory_map),
        ("deadline", s.late),
    ] {
        e.set("scan_processes", &[name, state], n.into());
    }
}

fn cost(e: &mut Exposition, prefix: &str, values: &[&str], c: &Cost) {
    for (what, v) in [
        ("rss", c.rss),
        ("pss", c.pss),
        ("uss", c.uss),
        ("swap", c.swap),
    ] {
        e.set(&format!("{prefix}_{what}"), values, v);
    }
}

fn objects(e: &mut Exposition, r: &Reading, weak: bool) {
    for o in &r.objects {
        let values = [o.path.as_str()];
        e.set("object_processes", &values, o.processes.into());
        e.set("object_resident", &values, o.resident);
        if let Some(f) = o.frames {
            e.set("object_frames", &values, f);
        }
        e.set("object_saved", &values, o.saved);
    }
    let Rest {
        count,
        resident,
        frames,
        saved,
        ..
    } = r.objects_rest;
    e.set("other_objects", &[], count.into());
    e.set("other_objects_resident", &[], resident);
    if !weak {
        e.set("other_objects_frames", &[], frames);
    }
    e.set("other_objects_saved", &[], saved);
}

/// A family's metrics. Two families whose roots have the same command and cgroup are told
/// apart by `#2`, `#3`... after the second one's command name, in the reading's order (as
/// given, or by root pid when found).
fn family(
    e: &mut Exposition,
    f: &FamilyReading,
    seen: &mut HashMap<(String, String), usize>,
    weak: bool,
) {
    let n = seen
        .entry((label(&f.root_comm), label(&f.root_cgroup)))
        .or_default();
    *n += 1;
    let comm = if *n == 1 {
        f.root_comm.clone()
    } else {
        format!("{}#{n}", f.root_comm)
    };
    let values = [comm.as_str(), f.root_cgroup.as_str()];
    e.set("family_members", &values, f.members.into());
    e.set("family_unreadable", &values, f.errors.into());
    inherited(e, "family", &values, &f.totals, weak);
    for w in &f.workers {
        let index = w.index.to_string();
        let values = [comm.as_str(), f.root_cgroup.as_str(), &w.comm, &index];
        inherited(e, "family_worker", &values, &w.pages, weak);
    }
}

fn inherited(e: &mut Exposition, prefix: &str, values: &[&str], i: &Inherited, weak: bool) {
    e.set(&format!("{prefix}_parents_frame"), values, i.parents_frame);
    e.set(&format!("{prefix}_copied"), values, i.copied);
    e.set(&format!("{prefix}_new"), values, i.new);
    if weak {
        e.set(
            &format!("{prefix}_looks_inherited"),
            values,
            i.looks_inherited,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_cut_apart() {
        let a = format!("{}a", "é".repeat(100));
        let b = format!("{}b", "é".repeat(100));
        let (la, lb) = (label(&a), label(&b));
        assert!(la.len() <= LABEL_MAX && lb.len() <= LABEL_MAX, "{la}");
        assert_ne!(la, lb);
        assert_eq!(label("short"), "short");
    }

    #[test]
    fn every_metric_is_in_the_reference() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/reference.md");
        let page = std::fs::read_to_string(path).expect("reference.md");
        for m in METRICS {
            let labels: Vec<String> = m.labels.iter().map(|l| format!("`{l}`")).collect();
            let row = format!(
                "| `{}` | {} | {} |",
                m.full_name(),
                labels.join(" "),
                m.help
            );
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
    }
}
