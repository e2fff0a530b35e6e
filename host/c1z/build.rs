//! Compiles the crate's own `c1.connector.v2` .proto files (the rows of a `.c1z`, and the
//! connector messages ConductorOne's service mode carries) into Rust with
//! protox (pure Rust, no `protoc` binary) and prost-build.

use std::path::Path;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/c1/connector/v2/resource.proto",
    "proto/c1/connector/v2/entitlement.proto",
    "proto/c1/connector/v2/grant.proto",
    "proto/c1/connector/v2/annotation_trait.proto",
    "proto/c1/connector/v2/annotation_resource.proto",
    "proto/c1/connector/v2/annotation_grant.proto",
    "proto/c1/connector/v2/connector.proto",
    "proto/c1/connector/v2/grant_manager.proto",
    "proto/c1/connector/v2/account.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
        if !Path::new(file).exists() {
            return Err(format!("missing proto file {file}").into());
        }
    }
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    write_descriptor_set()?;
    prost_build::Config::new()
        // `prost::Name` impls let annotation helpers build type URLs.
        .enable_type_names()
        // Sorted map keys keep GrantSources blobs stable between syncs.
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}

/// The descriptors (imports included, plus `google.protobuf.StringValue`, which stands in for
/// an annotation of an unknown type) for `protojson`, which prints messages in protobuf's JSON
/// mapping as baton's tools do.
fn write_descriptor_set() -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message;
    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler.include_imports(true).include_source_info(false).open_files(PROTO_FILES)?;
    compiler.open_file("google/protobuf/wrappers.proto")?;
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(Path::new(&out).join("c1_descriptors.bin"), compiler.file_descriptor_set().encode_to_vec())?;
    Ok(())
}
