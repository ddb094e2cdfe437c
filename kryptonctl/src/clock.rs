//! `doctor`'s clock check, made here rather than by the core: the core's unit sets
//! `ProtectClock=`, whose system call filter refuses `adjtimex` even to read, and kryptonctl
//! runs on the core's host (the control socket is local). Certificate dates, unseal expiry and
//! audit times all follow this clock.
//!
//! What is checked is the kernel's own view: whether a time daemon (chrony, systemd-timesyncd,
//! ntpd) has it synchronised, and the maximum error it estimates. The offset from a real time
//! source is not measured: that would need a server to ask.

use krypton_service::doctor::Finding;

/// A synchronised clock whose estimated maximum error exceeds this is a warning (µs).
const MAX_ERROR_MICROS: libc::c_long = 1_000_000;

/// The clock's synchronisation as a finding.
pub(crate) fn finding() -> Finding {
    const CHECK: &str = "clock";
    match status() {
        Err(error) => Finding::warning(
            CHECK,
            format!("cannot read the kernel's synchronisation status: {error}"),
        ),
        Ok(None) => Finding::warning(
            CHECK,
            "not synchronised by a time daemon (chrony, systemd-timesyncd, ntpd): \
             certificate dates and audit times may be off",
        ),
        Ok(Some(max_error)) if max_error > MAX_ERROR_MICROS => Finding::warning(
            CHECK,
            format!(
                "synchronised, but the kernel estimates up to {} ms of error",
                max_error / 1000
            ),
        ),
        Ok(Some(max_error)) => Finding::ok(
            CHECK,
            format!("synchronised, maximum error {} ms", max_error / 1000),
        ),
    }
}

/// The kernel's maximum error estimate in µs if the clock is synchronised, `None` if not.
fn status() -> std::io::Result<Option<libc::c_long>> {
    // SAFETY: `timex` is plain integers, for which all zeroes is a valid value, and with
    // `modes` 0 ntp_adjtime only reads the kernel's state into the struct it is given, which
    // lives across the call.
    let (state, timex) = unsafe {
        let mut timex: libc::timex = std::mem::zeroed();
        let state = libc::ntp_adjtime(&raw mut timex);
        (state, timex)
    };
    if state == -1 {
        return Err(std::io::Error::last_os_error());
    }
    let unsynchronised = state == libc::TIME_ERROR || timex.status & libc::STA_UNSYNC != 0;
    Ok((!unsynchronised).then_some(timex.maxerror))
}
