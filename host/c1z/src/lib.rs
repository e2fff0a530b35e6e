//! Reads and writes baton `.c1z` sync files in the v1 format: the magic
//! `C1ZF\0` followed by one zstd stream holding a SQLite database whose rows
//! carry `c1.connector.v2` protobuf blobs (docs/c1z-and-c1.md §2).
//!
//! - [`pb`]: generated protobuf types.
//! - [`annotations`]: packing and finding `google.protobuf.Any` annotations.
//! - [`protojson`]: messages in protobuf's JSON mapping, as baton's tools print them.
//! - [`writer::C1zWriter`]: builds a new file atomically.
//! - [`reader::C1zReader`]: opens an existing file for reading.

pub mod annotations;
pub mod lock;
mod previous;
pub mod protojson;
pub mod reader;
mod schema;
mod timefmt;
pub mod writer;

/// Generated `c1.connector.v2` protobuf messages (see `proto/`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/c1.connector.v2.rs"));
}

pub use annotations::{any, find_annotation};
pub use reader::{C1zReader, ReadError, ReadOptions, SyncRun};
pub use writer::{C1zWriter, Summary, WriteError};

/// `.<name>.<suffix>` beside the output `out`: where its lock and its unfinished sync live.
pub(crate) fn hidden_beside(out: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    out.with_file_name(format!(".{name}.{suffix}"))
}

/// The 5-byte header of a v1 `.c1z` file.
pub const C1Z_V1_MAGIC: &[u8; 5] = b"C1ZF\0";
/// The 5-byte header of a v3 (Pebble) `.c1z` file, recognised only to reject it.
pub const C1Z_V3_MAGIC: &[u8; 5] = b"C1Z3\0";
