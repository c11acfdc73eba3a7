//! Compiles the vendored .proto files with protox (pure Rust, no system protoc) into prost
//! messages, tonic services, and a descriptor set for the JSON mapping.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "proto/spacemesh/v2beta1/smeshing_identities.proto",
    "proto/spacemesh/v2beta1/smeshing.proto",
    "proto/spacemesh/v1/post.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(FILES, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
