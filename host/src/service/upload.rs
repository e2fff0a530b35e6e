//! Uploading a `.c1z` to ConductorOne: one `UploadAsset` client stream of metadata, 512 KiB
//! chunks and an EOF carrying the sha256 of the whole file; up to three attempts, each
//! reading the file from the start (docs/c1z-and-c1.md §5.8).

use super::client::C1Client;
use anyhow::{Context, Result, bail};
use baton_c1api::pb::BatonServiceUploadAssetRequest;
use baton_c1api::pb::baton_service_upload_asset_request::{Msg, UploadData, UploadEof, UploadMetadata};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Bytes per data message (baton's chunk size; the server takes at most 1 MiB).
pub const CHUNK: usize = 512 * 1024;
const ATTEMPTS: u32 = 3;

/// Uploads `file` for `task_id`.
pub async fn upload(client: &C1Client, task_id: &str, file: &Path) -> Result<()> {
    let checksum = sha256_of(file)?;
    let mut last_error = None;
    for attempt in 1..=ATTEMPTS {
        match client.upload_asset(messages(client.host_id(), task_id, file, &checksum)?).await {
            Ok(()) => {
                tracing::info!(task_id, bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0), attempt, "uploaded the sync");
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(task_id, attempt, error = %error, "upload failed");
                last_error = Some(error);
            }
        }
    }
    match last_error {
        Some(error) => Err(anyhow::Error::new(error).context(format!("uploading the sync failed {ATTEMPTS} times"))),
        None => bail!("nothing was uploaded"),
    }
}

/// The whole stream, read from the file as it is sent (a large sync is never all in memory):
/// metadata, the file in chunks, EOF with the checksum. A read error ends the data early (and
/// is logged); the checksum then does not match, so the server refuses the attempt.
fn messages(
    host_id: &str,
    task_id: &str,
    file: &Path,
    checksum: &[u8],
) -> Result<impl futures_util::Stream<Item = BatonServiceUploadAssetRequest> + Send + 'static> {
    use futures_util::StreamExt;
    let wrap = |msg| BatonServiceUploadAssetRequest { msg: Some(msg) };
    let metadata = wrap(Msg::Metadata(UploadMetadata { host_id: host_id.into(), task_id: task_id.into(), annotations: vec![] }));
    let eof = wrap(Msg::Eof(UploadEof { sha256_checksum: checksum.to_vec(), annotations: vec![] }));
    let reader = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let path = file.to_path_buf();
    let chunks = futures_util::stream::unfold(Some(reader), move |reader| {
        let path = path.clone();
        async move {
            let mut reader = reader?;
            let mut chunk = Vec::with_capacity(CHUNK);
            match (&mut reader).take(CHUNK as u64).read_to_end(&mut chunk) {
                Ok(0) => None,
                Ok(_) => Some((Ok(wrap(Msg::Data(UploadData { data: chunk }))), Some(reader))),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "cannot read the sync for upload");
                    Some((Err(error), None))
                }
            }
        }
    });
    let data = chunks.take_while(|chunk| std::future::ready(chunk.is_ok())).filter_map(|chunk| std::future::ready(chunk.ok()));
    Ok(futures_util::stream::iter([metadata]).chain(data).chain(futures_util::stream::iter([eof])))
}

fn sha256_of(file: &Path) -> Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut reader = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    std::io::copy(&mut reader, &mut hasher).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stream_is_metadata_chunks_and_a_checksum_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let bytes: Vec<u8> = (0..(CHUNK * 2 + 1000)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let checksum = sha256_of(&file).unwrap();
        let stream: Vec<_> = futures_util::StreamExt::collect(messages("host", "task", &file, &checksum).unwrap()).await;
        assert_eq!(stream.len(), 5, "metadata, three chunks, eof");
        assert!(matches!(&stream[0].msg, Some(Msg::Metadata(m)) if m.task_id == "task" && m.host_id == "host"));
        let sizes: Vec<usize> = stream
            .iter()
            .filter_map(|m| match &m.msg {
                Some(Msg::Data(d)) => Some(d.data.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, [CHUNK, CHUNK, 1000]);
        let Some(Msg::Eof(eof)) = &stream[4].msg else { panic!("no eof") };
        assert_eq!(eof.sha256_checksum, Sha256::digest(&bytes).to_vec());
    }
}
