//! What the service's test binaries share.

/// A `kB` field of this process's `/proc/self/status` (`VmRSS`, `VmLck`...).
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.trim().trim_end_matches(" kB").trim().parse().unwrap()
}
