//! Tasks of a type this build's protobuf does not know, as a newer ConductorOne sends them.
//! prost cannot hold an unknown `task_type` case, so a scripted task with an id and no type
//! ([`super::FakeC1::future_task`]) leaves the service without one, and this layer adds the case
//! on the wire: field 150 of the task, an empty message, in every GetTask answer carrying such a
//! task. A client then decodes a task with an id and no case it knows, exactly as it would decode
//! a task type added to C1 after it was built.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use baton_c1api::pb::BatonServiceGetTaskResponse;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

/// The field number of the task type no build knows yet.
pub const FUTURE_FIELD: u32 = 150;

/// Rewrites GetTask answers; every other call passes untouched.
pub async fn add_future_task_types(request: Request, next: Next) -> Response {
    let is_get_task = request.uri().path().ends_with("/GetTask");
    let response = next.run(request).await;
    if !is_get_task {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, Body::empty());
    };
    let trailers = collected.trailers().cloned();
    let framed = collected.to_bytes();
    let rewritten = rewrite_frame(&framed).unwrap_or(framed);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let mut frames = vec![Ok::<_, std::convert::Infallible>(Frame::data(rewritten))];
    frames.extend(trailers.map(|t| Ok(Frame::trailers(t))));
    Response::from_parts(parts, Body::new(StreamBody::new(futures_util::stream::iter(frames))))
}

/// One uncompressed gRPC message (flag 0, big-endian length, bytes) whose task has an id and
/// no type, with the unknown case added; none when there is nothing to change.
pub fn rewrite_frame(framed: &[u8]) -> Option<Bytes> {
    let (&flag, rest) = framed.split_first()?;
    let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let message = rest.get(4..4 + length)?;
    if flag != 0 {
        return None;
    }
    let response = BatonServiceGetTaskResponse::decode(message).ok()?;
    let task = response.task.as_ref().filter(|t| t.task_type.is_none() && !t.id.is_empty())?;
    let mut task_bytes = task.encode_to_vec();
    encode_key(FUTURE_FIELD, WireType::LengthDelimited, &mut task_bytes);
    encode_varint(0, &mut task_bytes);
    let mut out = BatonServiceGetTaskResponse { task: None, ..response }.encode_to_vec();
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(task_bytes.len() as u64, &mut out);
    out.extend_from_slice(&task_bytes);
    let mut frame = Vec::with_capacity(out.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(out.len() as u32).to_be_bytes());
    frame.extend_from_slice(&out);
    Some(Bytes::from(frame))
}
