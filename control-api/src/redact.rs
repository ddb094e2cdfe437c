//! `Debug` for the messages that carry shares: their derived `Debug` is suppressed at code
//! generation, and these print everything but the shares.

use std::fmt;

use crate::v1::{InitResponse, UnsealRequest};

impl fmt::Debug for UnsealRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealRequest")
            .field("share", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResponse")
            .field("shares", &format_args!("<{} redacted>", self.shares.len()))
            .field("installation", &self.installation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_never_reach_debug_output() {
        let request = UnsealRequest {
            share: "SECRETSHARE".into(),
        };
        assert!(!format!("{request:?}").contains("SECRET"));
        let response = InitResponse {
            shares: vec!["SECRETSHARE".into()],
            installation: None,
        };
        let printed = format!("{response:?}");
        assert!(!printed.contains("SECRET"));
        assert!(printed.contains("<1 redacted>"));
    }
}
