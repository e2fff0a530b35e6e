//! Receiving one UploadAsset stream (docs/c1z-and-c1.md §5.8): metadata first, then
//! data chunks of 1 byte to 1 MiB, then an eof carrying the sha256 of the whole file, then
//! the end of the stream. Fills an [`UploadRecord`] as it goes and says what went wrong.

use baton_c1api::pb::BatonServiceUploadAssetRequest;
use baton_c1api::pb::baton_service_upload_asset_request::{Msg, UploadEof, UploadMetadata};
use sha2::{Digest, Sha256};
use tonic::Streaming;

use super::checks;
use super::records::UploadRecord;

pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
const SHA256_BYTES: usize = 32;

/// Why a stream was refused: a broken rule (answered `INVALID_ARGUMENT`) or a failed stream
/// (answered with the stream's own status).
pub enum UploadError {
    Violation(String),
    Stream(tonic::Status),
}

/// Reads the stream to its end into `record`.
pub async fn receive(stream: &mut Streaming<BatonServiceUploadAssetRequest>, record: &mut UploadRecord) -> Result<(), UploadError> {
    let first = next_message(stream).await?;
    match first {
        Some(Msg::Metadata(metadata)) => accept_metadata(metadata, record)?,
        other => {
            return Err(violation(format!("first message is {}, not metadata", describe(&other))));
        }
    }
    loop {
        match next_message(stream).await? {
            Some(Msg::Data(data)) => accept_chunk(data.data, record)?,
            Some(Msg::Eof(eof)) => {
                accept_eof(eof, record)?;
                break;
            }
            other => {
                return Err(violation(format!("got {} where data or eof belongs", describe(&other))));
            }
        }
    }
    match next_message(stream).await? {
        None => Ok(()),
        other => Err(violation(format!("got {} after eof", describe(&other)))),
    }
}

/// The next message's payload; `Ok(None)` at the end of the stream.
async fn next_message(stream: &mut Streaming<BatonServiceUploadAssetRequest>) -> Result<Option<Msg>, UploadError> {
    match stream.message().await {
        Ok(Some(request)) => match request.msg {
            Some(msg) => Ok(Some(msg)),
            None => Err(violation("a message has no msg (metadata, data or eof)".into())),
        },
        Ok(None) => Ok(None),
        Err(status) => Err(UploadError::Stream(status)),
    }
}

fn accept_metadata(metadata: UploadMetadata, record: &mut UploadRecord) -> Result<(), UploadError> {
    record.host_id = Some(metadata.host_id.clone());
    record.task_id = Some(metadata.task_id.clone());
    checks::host_id(&metadata.host_id).map_err(violation)?;
    checks::task_id(&metadata.task_id).map_err(violation)
}

fn accept_chunk(data: Vec<u8>, record: &mut UploadRecord) -> Result<(), UploadError> {
    record.chunk_sizes.push(data.len());
    if !(1..=MAX_CHUNK_BYTES).contains(&data.len()) {
        return Err(violation(format!("data chunk of {} bytes, not 1 to {MAX_CHUNK_BYTES}", data.len())));
    }
    record.data.extend_from_slice(&data);
    Ok(())
}

fn accept_eof(eof: UploadEof, record: &mut UploadRecord) -> Result<(), UploadError> {
    let sent = eof.sha256_checksum;
    let matched = sent.as_slice() == Sha256::digest(&record.data).as_slice();
    record.sha256_sent = Some(sent.clone());
    record.sha256_matched = Some(matched);
    if sent.len() != SHA256_BYTES {
        return Err(violation(format!("eof checksum has {} bytes, not {SHA256_BYTES}", sent.len())));
    }
    if !matched {
        return Err(violation("eof checksum is not the sha256 of the data".into()));
    }
    Ok(())
}

fn describe(msg: &Option<Msg>) -> &'static str {
    match msg {
        None => "the end of the stream",
        Some(Msg::Metadata(_)) => "metadata",
        Some(Msg::Data(_)) => "data",
        Some(Msg::Eof(_)) => "eof",
    }
}

fn violation(reason: String) -> UploadError {
    UploadError::Violation(reason)
}
