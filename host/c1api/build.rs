//! Compiles `c1.connectorapi.baton.v1` (and `google.rpc.Status`) into a tonic client and server
//! with protox (pure Rust, no `protoc`). The `c1.connector.v2` messages it refers to are the
//! ones baton-c1z already generates, so one Rust type stands for each message.

const PROTO_FILES: &[&str] = &["proto/c1/connectorapi/baton/v1/baton.proto", "proto/google/rpc/status.proto"];
const INCLUDES: &[&str] = &["proto", "../c1z/proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../c1z/proto");
    let descriptors = protox::compile(PROTO_FILES, INCLUDES)?;
    tonic_prost_build::configure().extern_path(".c1.connector.v2", "::baton_c1z::pb").build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
