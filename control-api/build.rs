//! Generates the control API's messages, client and server from its one `.proto` definition.

/// Messages that carry shares: no derived `Debug` (the crate writes redacting ones), and wiped
/// when dropped.
const SECRET_MESSAGES: [&str; 2] = [
    ".krypton.control.v1.UnsealRequest",
    ".krypton.control.v1.InitResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/krypton/control/v1/control.proto";
    println!("cargo:rerun-if-changed={proto}");
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
        .compile_protos(&[proto], &["proto"])?;
    Ok(())
}
