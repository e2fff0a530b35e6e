//! The [`Transport`] over `wasi:http/outgoing-handler`: the only place the component touches the
//! network. It addresses the configured origin and context path; the host adds credentials and
//! refuses anything else. A request without a body finishes that (empty) body before `handle`,
//! so no write races the response (see `docs/wasm-notes.md` §3).

use crate::baton::connector::config;
use crate::settings::{BaseUrl, HOSTNAME};
use crate::transport::{Method, Request, Response, Transport};
use crate::types::ConnectorError;
use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{ErrorCode, Fields, HeaderError, IncomingResponse, Method as WasiMethod, OutgoingBody, OutgoingRequest, Scheme};
use crate::wasi::io::streams::StreamError;

/// Largest response body accepted, so a runaway answer fails clearly instead of exhausting memory.
const MAX_BODY_BYTES: usize = 64 << 20;

/// wasi-http to the configured Confluence base URL.
pub struct WasiHttp {
    base: BaseUrl,
}

impl WasiHttp {
    /// The transport for the `hostname` in the host's configuration.
    pub fn from_config() -> Result<WasiHttp, ConnectorError> {
        let value = config::get(HOSTNAME).ok_or_else(|| ConnectorError::InvalidArgument(format!("{HOSTNAME} is not set: give the Confluence base URL")))?;
        Ok(WasiHttp { base: BaseUrl::parse(&value)? })
    }

    fn outgoing(&self, request: &Request) -> Result<OutgoingRequest, ConnectorError> {
        let headers: Vec<(String, Vec<u8>)> = request.headers.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
        let fields = Fields::from_list(&headers).map_err(|e| header_error(e, request))?;
        let outgoing = OutgoingRequest::new(fields);
        let path = format!("{}{}", self.base.context_path, request.path_and_query);
        let scheme = if self.base.https { Scheme::Https } else { Scheme::Http };
        let set = outgoing
            .set_method(&wasi_method(request.method))
            .and(outgoing.set_scheme(Some(&scheme)))
            .and(outgoing.set_authority(Some(&self.base.authority)))
            .and(outgoing.set_path_with_query(Some(&path)));
        set.map_err(|()| ConnectorError::InvalidArgument(format!("cannot address {path} on {}", self.base.authority)))?;
        Ok(outgoing)
    }
}

impl Transport for WasiHttp {
    fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        let outgoing = self.outgoing(request)?;
        let body = outgoing.body().map_err(|()| internal("the request body was already taken"))?;
        let pending = match &request.body {
            None => {
                OutgoingBody::finish(body, None).map_err(|e| network_error(e, request))?;
                outgoing_handler::handle(outgoing, None).map_err(|e| network_error(e, request))?
            }
            Some(bytes) => {
                let pending = outgoing_handler::handle(outgoing, None).map_err(|e| network_error(e, request))?;
                write_body(&body, bytes)?;
                OutgoingBody::finish(body, None).map_err(|e| network_error(e, request))?;
                pending
            }
        };
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(network_error(code, request)),
            Some(Err(())) | None => return Err(internal("the response was already taken")),
        };
        read_response(response)
    }
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), ConnectorError> {
    let stream = body.write().map_err(|()| internal("the request body stream was already taken"))?;
    for chunk in bytes.chunks(4096) {
        stream.blocking_write_and_flush(chunk).map_err(|e| internal(&format!("writing the request body failed: {e:?}")))?;
    }
    Ok(())
}

fn read_response(response: IncomingResponse) -> Result<Response, ConnectorError> {
    let status = response.status();
    let headers = response.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let incoming = response.consume().map_err(|()| internal("the response body was already taken"))?;
    let body = {
        let stream = incoming.stream().map_err(|()| internal("the response body stream was already taken"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(ConnectorError::Unavailable(format!("reading the response failed: {}", e.to_debug_string())));
                }
            }
            if body.len() > MAX_BODY_BYTES {
                return Err(internal(&format!("the response is larger than {MAX_BODY_BYTES} bytes")));
            }
        }
        body
    };
    drop(incoming);
    Ok(Response { status, headers, body })
}

fn wasi_method(method: Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Delete => WasiMethod::Delete,
    }
}

fn header_error(error: HeaderError, request: &Request) -> ConnectorError {
    match error {
        HeaderError::Forbidden => {
            ConnectorError::Denied(format!("the host forbids a header of the request to {} (credentials are the host's job)", request.path_and_query))
        }
        other => ConnectorError::InvalidArgument(format!("invalid header for {}: {other:?}", request.path_and_query)),
    }
}

fn network_error(code: ErrorCode, request: &Request) -> ConnectorError {
    let target = format!("{} {}", request.method.as_str(), request.path_and_query);
    match code {
        ErrorCode::HttpRequestDenied => ConnectorError::Denied(format!("the host refused {target}: the destination is not the configured Confluence")),
        other => ConnectorError::Unavailable(format!("{target} got no answer: {}", what_failed(&other))),
    }
}

/// The network failure in words (the host has logged the details and says what to check).
fn what_failed(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => "the host name did not resolve",
        ErrorCode::ConnectionRefused => "the connection was refused",
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => "the server did not answer in time",
        ErrorCode::TlsCertificateError => "the server's certificate was not accepted",
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => "the TLS handshake failed",
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationNotFound | ErrorCode::DestinationIpUnroutable => "the destination cannot be reached",
        ErrorCode::ConnectionTerminated | ErrorCode::ConnectionLimitReached => "the connection broke off",
        _ => "the request failed on the way",
    }
}

fn internal(message: &str) -> ConnectorError {
    ConnectorError::Internal(message.to_string())
}
