//! Compiles `proto/flotilla/v1/*.proto` (with protox, so no `protoc` is needed) into Rust
//! messages and tonic clients and servers, written to `OUT_DIR/flotilla.v1.rs`.

use std::path::PathBuf;

const FILES: [&str; 6] = [
    "flotilla/v1/objects.proto",
    "flotilla/v1/control.proto",
    "flotilla/v1/raft.proto",
    "flotilla/v1/node.proto",
    "flotilla/v1/images.proto",
    "flotilla/v1/containers.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir
        .join("..")
        .join("..")
        .join("proto")
        .canonicalize()?;
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    for f in FILES {
        println!("cargo:rerun-if-changed={}", proto_dir.join(f).display());
    }

    // Names relative to the include directory, resolved the way `import` statements are.
    let fds = protox::compile(FILES, [&proto_dir])?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Ordered maps: the same object always encodes to the same bytes (log entries,
        // snapshots), and they match the model's `BTreeMap`s.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
