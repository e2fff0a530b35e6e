//! The reader faces files anyone could have handed over: arbitrary bytes, a right header with
//! garbage after it, or a real file with bytes flipped. It answers with an error, never a panic.

mod common;

use baton_c1z::C1zReader;
use common::*;
use proptest::prelude::*;

fn read_everything(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.c1z");
    std::fs::write(&path, bytes).expect("write");
    if let Ok(reader) = C1zReader::open(&path) {
        let _ = reader.sync_runs();
        let _ = reader.resource_types();
        let _ = reader.resources(None);
        let _ = reader.entitlements();
        let _ = reader.grants();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        read_everything(&bytes);
    }

    #[test]
    fn a_right_header_over_garbage_is_refused_cleanly(tail in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut bytes = baton_c1z::C1Z_V1_MAGIC.to_vec();
        bytes.extend_from_slice(&tail);
        read_everything(&bytes);
    }

    #[test]
    fn a_real_file_with_flipped_bytes_is_refused_or_read_cleanly(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("good.c1z");
        write_dataset(&out, &dataset());
        let mut bytes = std::fs::read(&out).expect("read");
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] ^= value | 1;
        }
        read_everything(&bytes);
    }
}
