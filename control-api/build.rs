//! Generates the messages, clients and servers of the core's two gRPC APIs from their `.proto`
//! definitions: the control API (operators, local socket) and the orchestration API (the
//! governance plane, mutual TLS).

/// Messages that carry shares: no derived `Debug` (the crate writes redacting ones), and wiped
/// when dropped.
const SECRET_MESSAGES: [&str; 2] = [
    ".krypton.control.v1.UnsealRequest",
    ".krypton.control.v1.InitResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/krypton/control/v1/control.proto",
        "proto/krypton/orchestration/v1/orchestration.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut builder = tonic_prost_build::configure().skip_debug(SECRET_MESSAGES);
    for message in SECRET_MESSAGES {
        builder = builder.type_attribute(
            message,
            "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]",
        );
    }
    builder
        .field_attribute(
            ".krypton.control.v1.InitResponse.installation",
            "#[zeroize(skip)]",
        )
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
