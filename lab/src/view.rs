//! Reading `solab inspect --json` (schema solab.inspect.v1) for the evidence the lab shows.

use crate::ctx::Host;
use anyhow::{Result, anyhow};
use serde_json::Value;

/// The object in an inspect report whose file name is `name`.
pub fn object<'a>(report: &'a Value, name: &str) -> Result<&'a Value> {
    report["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| {
            o["path"]
                .as_str()
                .and_then(|p| p.rsplit('/').next())
                // An installed libsolib.so is a link: processes map its target,
                // libsolib.so.0.1.0 (make install), which is the same library.
                .is_some_and(|f| {
                    f == name || f.strip_prefix(name).is_some_and(|v| v.starts_with('.'))
                })
        })
        .ok_or_else(|| anyhow!("solab inspect reported no object named {name}"))
}

pub fn pages(object: &Value) -> impl Iterator<Item = &Value> {
    object["pages"].as_array().into_iter().flatten()
}

/// The page that holds byte `offset` from the object's load base.
pub fn page_at(object: &Value, offset: u64) -> Result<&Value> {
    let want = offset & !4095;
    pages(object)
        .find(|p| p["offset"].as_u64() == Some(want))
        .ok_or_else(|| anyhow!("no page at offset {want:#x} in {}", object["path"]))
}

pub fn segment(page: &Value) -> &str {
    page["segment"].as_str().unwrap_or("?")
}

pub fn verdict(page: &Value) -> &str {
    page["verdict"].as_str().unwrap_or("?")
}

pub fn offset(page: &Value) -> u64 {
    page["offset"].as_u64().unwrap_or(0)
}

pub fn sections(page: &Value) -> Vec<String> {
    page["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The per-process entry of `page` for `host`.
pub fn proc_of<'a>(page: &'a Value, host: &Host) -> Option<&'a Value> {
    page["procs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["pid"].as_i64() == Some(host.pid as i64))
}

pub fn state<'a>(page: &'a Value, host: &Host) -> &'a str {
    proc_of(page, host)
        .and_then(|p| p["state"].as_str())
        .unwrap_or("missing")
}

pub fn pfn(page: &Value, host: &Host) -> Option<u64> {
    proc_of(page, host).and_then(|p| p["pfn"].as_u64())
}

pub fn present_count(page: &Value) -> usize {
    page["procs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["present"].as_bool() == Some(true))
        .count()
}

/// "pfn 0x1a2b3 in A, B, C" when they agree, else "A 0x1, B 0x2, C 0x3"; states when no
/// frame numbers are visible.
pub fn frames(page: &Value, hosts: &[&Host]) -> String {
    let pfns: Vec<Option<u64>> = hosts.iter().map(|h| pfn(page, h)).collect();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    if pfns.iter().all(|p| p.is_none()) {
        let states: Vec<String> = hosts
            .iter()
            .map(|h| format!("{} {}", h.name, state(page, h)))
            .collect();
        return format!(
            "{} (no frame numbers without CAP_SYS_ADMIN)",
            states.join(", ")
        );
    }
    if pfns.windows(2).all(|w| w[0] == w[1]) {
        return format!("pfn {} in {}", hex(pfns[0]), names.join(", "));
    }
    hosts
        .iter()
        .zip(&pfns)
        .map(|(h, p)| format!("{} {} ({})", h.name, hex(*p), state(page, h)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn hex(p: Option<u64>) -> String {
    p.map_or("-".to_string(), |p| format!("{p:#x}"))
}

/// Counts of a segment's pages, per verdict.
#[derive(Default, Debug)]
pub struct Tally {
    pub pages: usize,
    pub present_in_all: usize,
    pub shared: usize,
    pub private: usize,
    pub mixed: usize,
    pub untouched: usize,
    /// Pages present in at least two processes whose verdict is not `shared`.
    pub not_shared: Vec<u64>,
}

pub fn tally(object: &Value, seg: &str, nprocs: usize) -> Tally {
    let mut t = Tally::default();
    for p in pages(object).filter(|p| segment(p) == seg) {
        t.pages += 1;
        if present_count(p) == nprocs {
            t.present_in_all += 1;
        }
        match verdict(p) {
            "shared" => t.shared += 1,
            "private" => t.private += 1,
            "mixed" => t.mixed += 1,
            _ => t.untouched += 1,
        }
        if present_count(p) >= 2 && verdict(p) != "shared" {
            t.not_shared.push(offset(p));
        }
    }
    t
}

pub fn offsets(list: &[u64]) -> String {
    let shown: Vec<String> = list.iter().take(8).map(|o| format!("{o:#x}")).collect();
    let more = if list.len() > 8 {
        format!(" and {} more", list.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}
