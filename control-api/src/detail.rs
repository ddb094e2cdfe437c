//! The typed detail an error status from the core carries beside its code and message.

use prost::Message;
use tonic::Status;

use crate::v1::ErrorDetail;

/// The typed detail of an error status from the core, if it carries one.
///
/// A status with no details came from the transport (a connection lost, a deadline passed),
/// not from the core: proto3 would decode its empty details as a detail with no reason, so
/// they are not decoded at all.
pub fn error_detail(status: &Status) -> Option<ErrorDetail> {
    if status.details().is_empty() {
        return None;
    }
    ErrorDetail::decode(status.details()).ok()
}

#[cfg(test)]
mod tests {
    use prost::bytes::Bytes;
    use tonic::Code;

    use super::*;
    use crate::v1::ErrorReason;

    #[test]
    fn the_core_s_detail_is_read_back() {
        let detail = ErrorDetail {
            reason: ErrorReason::MalformedShare.into(),
            share_group: Some(6),
        };
        let status = Status::with_details(
            Code::InvalidArgument,
            "share refused",
            Bytes::from(detail.encode_to_vec()),
        );
        assert_eq!(error_detail(&status), Some(detail));
    }

    #[test]
    fn a_transport_status_has_no_detail() {
        assert_eq!(error_detail(&Status::unavailable("connection reset")), None);
        assert_eq!(error_detail(&Status::deadline_exceeded("timeout")), None);
    }

    #[test]
    fn details_that_are_not_an_error_detail_are_none() {
        let status = Status::with_details(Code::Internal, "?", Bytes::from_static(&[0xff; 4]));
        assert_eq!(error_detail(&status), None);
    }
}
