//! Groups of processes for `--by` (`solab ps`, `solab libs`): by user, command name, cgroup,
//! or container (cgroup and mount namespace), and the name of a container as its cgroup path
//! tells it ([`name_container`], pure).
//!
//! The cgroup is the cgroup v2 path (`0::PATH` in /proc/PID/cgroup, read by
//! [`crate::kernel::process`]). A machine with only cgroup v1 hierarchies has no such path:
//! grouping by cgroup or container there is refused with [`no_cgroup_v2`].

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// What `--by` groups the processes by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    /// The real uid's name
    User,
    /// The command name (comm)
    Comm,
    /// The cgroup v2 path
    Cgroup,
    /// The cgroup v2 path and the mount namespace, named after the container the path
    /// names (docker, podman, containerd, flatpak, a systemd unit)
    Container,
}

impl GroupBy {
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Comm => "comm",
            GroupBy::Cgroup => "cgroup",
            GroupBy::Container => "container",
        }
    }
    /// Whether the groups need the cgroup v2 path.
    pub fn needs_cgroup(self) -> bool {
        matches!(self, GroupBy::Cgroup | GroupBy::Container)
    }
}

/// Who runs a container, as its cgroup path says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerKind {
    /// `docker-ID.scope` (systemd driver) or `/docker/ID` (cgroupfs driver).
    Docker,
    /// `libpod-ID.scope`.
    Podman,
    /// `cri-containerd-ID.scope` (Kubernetes with containerd).
    Containerd,
    /// `app-flatpak-APPID-N.scope`.
    Flatpak,
    /// A systemd service or scope (`nginx.service`, `user@1000.service`, `session-3.scope`),
    /// or a slice with no unit below it.
    Systemd,
    /// None of these: the cgroup path is the name.
    Cgroup,
}

impl ContainerKind {
    pub fn name(self) -> &'static str {
        match self {
            ContainerKind::Docker => "docker",
            ContainerKind::Podman => "podman",
            ContainerKind::Containerd => "containerd",
            ContainerKind::Flatpak => "flatpak",
            ContainerKind::Systemd => "systemd",
            ContainerKind::Cgroup => "cgroup",
        }
    }
}

/// A container: processes of one cgroup in one mount namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub kind: ContainerKind,
    /// The container's id (12 hex digits), the flatpak's application id, the systemd unit,
    /// or the cgroup path.
    pub name: String,
    pub cgroup: String,
    /// The inode of /proc/PID/ns/mnt; null when it could not be read.
    pub mnt_ns: Option<u64>,
}

/// The first 12 characters of a container id, as `docker ps` shows it.
fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn is_container_id(s: &str) -> bool {
    s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Names the container a cgroup v2 path belongs to, from its deepest component that says
/// so: docker, podman, containerd and flatpak scopes, then the deepest systemd service or
/// scope (`init.scope` of a user manager names the manager), then the deepest slice. A
/// path that says none of these is its own name.
pub fn name_container(cgroup: &str) -> (ContainerKind, String) {
    let parts: Vec<&str> = cgroup.split('/').filter(|p| !p.is_empty()).collect();
    for (i, p) in parts.iter().enumerate().rev() {
        let scope = p.strip_suffix(".scope");
        if let Some(id) = scope.and_then(|s| s.strip_prefix("docker-"))
            && is_container_id(id)
        {
            return (ContainerKind::Docker, short_id(id));
        }
        if i > 0 && parts[i - 1] == "docker" && is_container_id(p) {
            return (ContainerKind::Docker, short_id(p));
        }
        if let Some(id) = scope.and_then(|s| s.strip_prefix("libpod-")) {
            return match id.strip_prefix("conmon-") {
                Some(id) if is_container_id(id) => {
                    (ContainerKind::Podman, format!("conmon {}", short_id(id)))
                }
                _ if is_container_id(id) => (ContainerKind::Podman, short_id(id)),
                _ => continue,
            };
        }
        if let Some(id) = scope.and_then(|s| s.strip_prefix("cri-containerd-"))
            && is_container_id(id)
        {
            return (ContainerKind::Containerd, short_id(id));
        }
        if let Some(rest) = scope.and_then(|s| s.strip_prefix("app-flatpak-"))
            && let Some((app, n)) = rest.rsplit_once('-')
            && !app.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return (ContainerKind::Flatpak, app.to_string());
        }
    }
    for (i, p) in parts.iter().enumerate().rev() {
        if *p == "init.scope" && i > 0 && parts[i - 1].ends_with(".service") {
            return (ContainerKind::Systemd, parts[i - 1].to_string());
        }
        if p.ends_with(".service") || p.ends_with(".scope") {
            return (ContainerKind::Systemd, p.to_string());
        }
    }
    if let Some(slice) = parts.iter().rev().find(|p| p.ends_with(".slice")) {
        return (ContainerKind::Systemd, slice.to_string());
    }
    let path = if cgroup.is_empty() { "/" } else { cgroup };
    (ContainerKind::Cgroup, path.to_string())
}

impl Container {
    pub fn of(cgroup: &str, mnt_ns: Option<u64>) -> Container {
        let (kind, name) = name_container(cgroup);
        Container {
            kind,
            name,
            cgroup: cgroup.to_string(),
            mnt_ns,
        }
    }

    /// The group's key: unique per (cgroup, mount namespace).
    pub fn key(&self) -> String {
        match self.mnt_ns {
            Some(ns) => format!("{} mnt:{ns}", self.cgroup),
            None => format!("{} mnt:?", self.cgroup),
        }
    }

    /// How the table shows it: `KIND NAME mnt:INODE`.
    pub fn label(&self) -> String {
        let ns = self.mnt_ns.map_or("?".to_string(), |n| n.to_string());
        format!("{} {} mnt:{ns}", self.kind.name(), self.name)
    }
}

/// The error of `--by cgroup` or `--by container` where the process has no cgroup v2 path.
pub fn no_cgroup_v2(by: GroupBy, pid: i32) -> Error {
    Error::Usage(format!(
        "--by {} needs cgroup v2: /proc/{pid}/cgroup has no \"0::PATH\" line (this machine \
         mounts only cgroup v1 hierarchies, whose paths differ per controller and name no \
         single group); group by user or comm instead",
        by.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerKind::*;

    fn named(path: &str) -> (ContainerKind, String) {
        name_container(path)
    }

    #[test]
    fn containers_are_named_from_their_cgroup_path() {
        let id = "4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e";
        let s = |k: ContainerKind, n: &str| (k, n.to_string());
        // docker, systemd cgroup driver (the default on cgroup v2) and cgroupfs driver.
        assert_eq!(
            named(&format!("/system.slice/docker-{id}.scope")),
            s(Docker, "4d5e6f7a8b9c")
        );
        assert_eq!(named(&format!("/docker/{id}")), s(Docker, "4d5e6f7a8b9c"));
        // podman: rootful, rootless (under the user manager), with the container's own
        // cgroup namespace (the processes sit in .../container), and its conmon.
        assert_eq!(
            named(&format!("/machine.slice/libpod-{id}.scope")),
            s(Podman, "4d5e6f7a8b9c")
        );
        assert_eq!(
            named(&format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container"
            )),
            s(Podman, "4d5e6f7a8b9c")
        );
        assert_eq!(
            named(&format!("/machine.slice/libpod-conmon-{id}.scope")),
            s(Podman, "conmon 4d5e6f7a8b9c")
        );
        // Kubernetes with containerd.
        assert_eq!(
            named(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a.slice/cri-containerd-{id}.scope"
            )),
            s(Containerd, "4d5e6f7a8b9c")
        );
        // flatpak (systemd escapes nothing in these ids; the suffix is the instance).
        assert_eq!(
            named(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-org.mozilla.firefox-3051.scope"
            ),
            s(Flatpak, "org.mozilla.firefox")
        );
        assert_eq!(
            named(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-com.github.tchx84.Flatseal-12.scope"
            ),
            s(Flatpak, "com.github.tchx84.Flatseal")
        );
        // systemd services, scopes and slices.
        assert_eq!(
            named("/system.slice/nginx.service"),
            s(Systemd, "nginx.service")
        );
        assert_eq!(
            named("/user.slice/user-1000.slice/user@1000.service/init.scope"),
            s(Systemd, "user@1000.service")
        );
        assert_eq!(
            named("/user.slice/user-1000.slice/session-3.scope"),
            s(Systemd, "session-3.scope")
        );
        assert_eq!(
            named(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-5a1b.scope"
            ),
            s(Systemd, "vte-spawn-5a1b.scope")
        );
        assert_eq!(named("/init.scope"), s(Systemd, "init.scope"));
        assert_eq!(named("/system.slice"), s(Systemd, "system.slice"));
        // Nothing to go by: the path.
        assert_eq!(named("/"), s(Cgroup, "/"));
        assert_eq!(named(""), s(Cgroup, "/"));
        assert_eq!(named("/solab-test-12-a"), s(Cgroup, "/solab-test-12-a"));
        // Look-alikes are not containers.
        assert_eq!(
            named("/system.slice/docker-compose.scope"),
            s(Systemd, "docker-compose.scope")
        );
        assert_eq!(named("/docker/notanid"), s(Cgroup, "/docker/notanid"));
        assert_eq!(
            named("/app.slice/app-flatpak-org.x-y.scope"),
            s(Systemd, "app-flatpak-org.x-y.scope")
        );
    }

    #[test]
    fn container_keys_tell_namespaces_apart() {
        let a = Container::of("/system.slice/nginx.service", Some(4026531841));
        let b = Container::of("/system.slice/nginx.service", Some(4026532200));
        assert_ne!(a.key(), b.key());
        assert_eq!(a.label(), "systemd nginx.service mnt:4026531841");
        let e = no_cgroup_v2(GroupBy::Cgroup, 42).to_string();
        assert!(
            e.contains("/proc/42/cgroup") && e.contains("cgroup v2"),
            "{e}"
        );
    }
}
