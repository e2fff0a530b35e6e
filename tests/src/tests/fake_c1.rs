//! The fake ConductorOne itself: its token endpoint (assertions signed here, independently of
//! the fake, and sent over HTTP/1.1) and its BatonService (through a tonic client over h2c on
//! the same port): tokens, task script, heartbeats, FinishTask and uploads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton_c1api::pb::baton_service_client::BatonServiceClient;
use baton_c1api::pb::baton_service_finish_task_request::{FinalState, Success};
use baton_c1api::pb::baton_service_hello_request::{BuildInfo, OsInfo};
use baton_c1api::pb::baton_service_upload_asset_request::{Msg, UploadData, UploadEof, UploadMetadata};
use baton_c1api::pb::{
    BatonServiceFinishTaskRequest, BatonServiceGetTaskRequest, BatonServiceGetTaskResponse, BatonServiceHeartbeatRequest, BatonServiceHelloRequest,
    BatonServiceUploadAssetRequest, task,
};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::fake_c1::{FUTURE_FIELD, FakeC1, FakeC1Config, SECRET_PREFIX, rewrite_frame, signing_key_from_secret};
use prost::Message;

const HOST_ID: &str = "test-host";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn start(config: FakeC1Config) -> FakeC1 {
    FakeC1::start(config).expect("fake C1 starts")
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sdk_header() -> Value {
    json!({ "alg": "EdDSA", "nonce": nonce() })
}

/// The claims the SDK writes for `fake`, at this moment.
fn sdk_claims(fake: &FakeC1) -> Value {
    let now = unix_now();
    json!({
        "iss": fake.client_id(),
        "sub": fake.client_id(),
        "aud": "127.0.0.1",
        "exp": now + 120,
        "nbf": now - 120,
        "iat": now,
    })
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A compact JWS of `claims` under `header`, signed with `key`.
fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn our_key(fake: &FakeC1) -> SigningKey {
    signing_key_from_secret(&fake.client_secret()).expect("our secret parses")
}

fn token_form(client_id: &str, assertion: &str) -> Vec<(String, String)> {
    [("client_id", client_id), ("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
}

/// POSTs a form to the token endpoint over a fresh HTTP/1.1 connection; (status, JSON body).
async fn post_token(fake: &FakeC1, form: &[(String, String)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let address = fake.address();
    let request = format!(
        "POST /auth/v1/token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (_, body) = response.split_once("\r\n\r\n").expect("a complete response");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")))
}

async fn exchange(fake: &FakeC1, header: &Value, claims: &Value) -> (u16, Value) {
    let assertion = sign(&our_key(fake), header, claims);
    post_token(fake, &token_form(&fake.client_id(), &assertion)).await
}

/// A token obtained the way the SDK obtains one.
async fn access_token(fake: &FakeC1) -> String {
    let (status, body) = exchange(fake, &sdk_header(), &sdk_claims(fake)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn assert_refused(fake: &FakeC1, form: &[(String, String)], reason_part: &str) {
    let (status, body) = post_token(fake, form).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let last = fake.token_requests().pop().expect("recorded");
    assert!(!last.accepted());
    let reason = last.rejection().unwrap();
    assert!(reason.contains(reason_part), "{reason:?} lacks {reason_part:?}");
    assert_eq!(body["error_description"], reason);
}

async fn client(fake: &FakeC1) -> BatonServiceClient<Channel> {
    BatonServiceClient::connect(fake.grpc_url()).await.expect("gRPC connects")
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn poll() -> BatonServiceGetTaskRequest {
    BatonServiceGetTaskRequest { host_id: HOST_ID.into() }
}

fn full_hello(task_id: &str) -> BatonServiceHelloRequest {
    let text = |s: &str| s.to_string();
    BatonServiceHelloRequest {
        host_id: HOST_ID.into(),
        task_id: task_id.into(),
        build_info: Some(BuildInfo { lang_version: text("rust"), package: text("baton-confluence-datacenter"), package_version: text("0.1.0") }),
        os_info: Some(OsInfo {
            hostname: text("h"),
            os: text("linux"),
            platform: text("debian"),
            platform_version: text("12"),
            platform_family: text("debian"),
            kernel_version: text("6.1"),
            kernel_arch: text("x86_64"),
            virtualization_system: text("none"),
        }),
        connector_metadata: Some(baton_c1z::pb::ConnectorMetadata { display_name: text("Confluence"), ..Default::default() }),
        annotations: Vec::new(),
    }
}

fn upload_message(msg: Msg) -> BatonServiceUploadAssetRequest {
    BatonServiceUploadAssetRequest { msg: Some(msg) }
}

fn metadata(task_id: &str) -> BatonServiceUploadAssetRequest {
    upload_message(Msg::Metadata(UploadMetadata { host_id: HOST_ID.into(), task_id: task_id.into(), annotations: Vec::new() }))
}

fn data(bytes: &[u8]) -> BatonServiceUploadAssetRequest {
    upload_message(Msg::Data(UploadData { data: bytes.to_vec() }))
}

fn eof(checksum: &[u8]) -> BatonServiceUploadAssetRequest {
    upload_message(Msg::Eof(UploadEof { sha256_checksum: checksum.to_vec(), annotations: Vec::new() }))
}

/// Metadata, `file` in chunks of `chunk` bytes, eof with `checksum`.
fn upload_stream(task_id: &str, file: &[u8], chunk: usize, checksum: &[u8]) -> Vec<BatonServiceUploadAssetRequest> {
    let mut messages = vec![metadata(task_id)];
    messages.extend(file.chunks(chunk).map(data));
    messages.push(eof(checksum));
    messages
}

async fn upload(client: &mut BatonServiceClient<Channel>, token: &str, messages: Vec<BatonServiceUploadAssetRequest>) -> Result<(), tonic::Status> {
    let stream = futures_util::stream::iter(messages);
    client.upload_asset(authed(stream, token)).await.map(|_| ())
}

fn test_file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

// ---- credentials and the token endpoint ----

#[test]
fn credentials_name_the_fake_and_carry_its_key_as_a_jwk() {
    let fake = start(FakeC1Config { key_seed: Some([7; 32]), ..FakeC1Config::default() });
    assert!(fake.address().starts_with("127.0.0.1:"));
    assert_eq!(fake.client_id(), format!("test-client@{}/pcc", fake.address()));
    assert_eq!(fake.audience(), "127.0.0.1");
    let secret = fake.client_secret();
    let encoded = secret.strip_prefix(SECRET_PREFIX).expect("secret-token:conductorone.com:v1:");
    let jwk: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["d"], URL_SAFE_NO_PAD.encode([7u8; 32]));
    let key = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(jwk["x"], URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()));
    let wrong = signing_key_from_secret(&fake.wrong_client_secret()).unwrap();
    assert_ne!(wrong.to_bytes(), key.to_bytes());
}

#[tokio::test]
async fn correctly_signed_assertion_gets_a_bearer_token() {
    let fake = start(FakeC1Config { token_lifetime_seconds: 900, ..FakeC1Config::default() });
    let (status, body) = exchange(&fake, &sdk_header(), &sdk_claims(&fake)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 32);
    let records = fake.token_requests();
    assert_eq!(records.len(), 1);
    assert!(records[0].accepted());
    assert_eq!(records[0].client_id.as_deref(), Some(fake.client_id().as_str()));
    assert_eq!(records[0].assertion_header.as_ref().unwrap()["alg"], "EdDSA");
    assert_eq!(records[0].assertion_claims.as_ref().unwrap()["aud"], "127.0.0.1");
    assert_eq!(records[0].outcome, crate::fake_c1::TokenOutcome::Issued { access_token: token.to_string() });
}

#[tokio::test]
async fn assertion_signed_by_another_key_gets_401() {
    let fake = start(FakeC1Config::default());
    let wrong_key = signing_key_from_secret(&fake.wrong_client_secret()).unwrap();
    let assertion = sign(&wrong_key, &sdk_header(), &sdk_claims(&fake));
    assert_refused(&fake, &token_form(&fake.client_id(), &assertion), "does not verify").await;
    let mut tampered = sign(&our_key(&fake), &sdk_header(), &sdk_claims(&fake));
    let first_of_signature = tampered.rfind('.').unwrap() + 1;
    let flipped = if tampered[first_of_signature..].starts_with('A') { "B" } else { "A" };
    tampered.replace_range(first_of_signature..=first_of_signature, flipped);
    assert_refused(&fake, &token_form(&fake.client_id(), &tampered), "does not verify").await;
}

#[tokio::test]
async fn wrong_audience_gets_401() {
    let fake = start(FakeC1Config::default());
    let key = our_key(&fake);
    let wrong_auds = [json!(fake.address()), json!(["127.0.0.1"]), json!("localhost")];
    for aud in wrong_auds {
        let mut claims = sdk_claims(&fake);
        claims["aud"] = aud;
        let assertion = sign(&key, &sdk_header(), &claims);
        assert_refused(&fake, &token_form(&fake.client_id(), &assertion), "aud").await;
    }
}

#[tokio::test]
async fn expired_assertion_gets_401() {
    let fake = start(FakeC1Config::default());
    let now = unix_now();
    let mut claims = sdk_claims(&fake);
    claims["exp"] = json!(now - 10);
    claims["nbf"] = json!(now - 250);
    claims["iat"] = json!(now - 130);
    let assertion = sign(&our_key(&fake), &sdk_header(), &claims);
    assert_refused(&fake, &token_form(&fake.client_id(), &assertion), "expired").await;
}

#[tokio::test]
async fn times_far_from_the_sdk_ones_get_401() {
    let fake = start(FakeC1Config::default());
    let now = unix_now();
    for (claim, value) in [("exp", now + 3600), ("nbf", now), ("iat", now - 60)] {
        let mut claims = sdk_claims(&fake);
        claims[claim] = json!(value);
        let assertion = sign(&our_key(&fake), &sdk_header(), &claims);
        assert_refused(&fake, &token_form(&fake.client_id(), &assertion), claim).await;
    }
}

#[tokio::test]
async fn wrong_client_id_gets_401() {
    let fake = start(FakeC1Config::default());
    let other = format!("other-client@{}/pcc", fake.address());
    let mut claims = sdk_claims(&fake);
    claims["iss"] = json!(other);
    claims["sub"] = json!(other);
    let assertion = sign(&our_key(&fake), &sdk_header(), &claims);
    assert_refused(&fake, &token_form(&other, &assertion), "client_id").await;
    let mut claims = sdk_claims(&fake);
    claims["sub"] = json!(other);
    let assertion = sign(&our_key(&fake), &sdk_header(), &claims);
    assert_refused(&fake, &token_form(&fake.client_id(), &assertion), "sub").await;
}

#[tokio::test]
async fn other_form_fields_and_headers_are_checked() {
    let fake = start(FakeC1Config::default());
    let good = sign(&our_key(&fake), &sdk_header(), &sdk_claims(&fake));
    let mut form = token_form(&fake.client_id(), &good);
    form[1].1 = "authorization_code".into();
    assert_refused(&fake, &form, "grant_type").await;
    let mut form = token_form(&fake.client_id(), &good);
    form[2].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into();
    assert_refused(&fake, &form, "client_assertion_type").await;
    let headers = [
        (json!({ "alg": "EdDSA" }), "nonce"),
        (json!({ "alg": "EdDSA", "nonce": nonce().to_uppercase() }), "nonce"),
        (json!({ "alg": "ES256", "nonce": nonce() }), "alg"),
        (json!({ "alg": "EdDSA", "nonce": nonce(), "kid": "k" }), "kid"),
    ];
    for (header, reason) in headers {
        let assertion = sign(&our_key(&fake), &header, &sdk_claims(&fake));
        assert_refused(&fake, &token_form(&fake.client_id(), &assertion), reason).await;
    }
    assert_refused(&fake, &token_form(&fake.client_id(), "not-a-jws"), "compact JWS").await;
    assert_eq!(fake.token_requests().len(), 7);
}

// ---- BatonService ----

#[tokio::test]
async fn grpc_without_a_live_token_is_unauthenticated() {
    let fake = start(FakeC1Config::default());
    let mut client = client(&fake).await;
    let status = client.get_task(Request::new(poll())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client.get_task(authed(poll(), "made-up")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let token = access_token(&fake).await;
    client.get_task(authed(poll(), &token)).await.expect("a live token works");
    fake.expire_tokens();
    let status = client.get_task(authed(poll(), &token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client.hello(Request::new(full_hello(""))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let refused = fake.unauthenticated();
    let reasons: Vec<&str> = refused.iter().map(|call| call.reason.as_str()).collect();
    assert_eq!(reasons, ["no authorization metadata", "unknown access token", "expired access token", "no authorization metadata"]);
    assert_eq!(refused[3].method, "Hello");
    assert_eq!(fake.polls().len(), 1);
    assert_eq!(fake.polls()[0].token, token);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let fake = start(FakeC1Config { token_lifetime_seconds: 1, ..FakeC1Config::default() });
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    client.get_task(authed(poll(), &token)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let status = client.get_task(authed(poll(), &token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn scripted_tasks_come_out_in_order_then_none() {
    let fake = start(FakeC1Config { tasks: vec![FakeC1::hello_task(1), FakeC1::sync_full_task(2)], ..FakeC1Config::default() });
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let mut handed_out = Vec::new();
    for _ in 0..4 {
        let response = client.get_task(authed(poll(), &token)).await.unwrap().into_inner();
        assert_eq!(response.next_poll, Some(prost_types::Duration { seconds: 0, nanos: 100_000_000 }));
        assert_eq!(response.next_heartbeat, Some(prost_types::Duration { seconds: 0, nanos: 200_000_000 }));
        handed_out.push(response.task);
    }
    assert_eq!(handed_out[0].as_ref().unwrap().id, FakeC1::task_id(1));
    assert!(matches!(handed_out[0].as_ref().unwrap().task_type, Some(task::TaskType::Hello(_))));
    assert_eq!(handed_out[1].as_ref().unwrap().id, FakeC1::task_id(2));
    assert!(matches!(handed_out[1].as_ref().unwrap().task_type, Some(task::TaskType::SyncFull(_))));
    assert!(handed_out[2].is_none() && handed_out[3].is_none());
    fake.push_task(FakeC1::sync_full_task(3));
    let response = client.get_task(authed(poll(), &token)).await.unwrap().into_inner();
    assert_eq!(response.task.unwrap().id, FakeC1::task_id(3));
    assert_eq!(fake.polls().len(), 5);
}

#[test]
fn task_ids_are_27_letters_or_digits_and_bad_ones_are_refused() {
    assert_eq!(FakeC1::task_id(42), "task00000000000000000000042");
    assert_eq!(FakeC1::task_id(u64::MAX).len(), 27);
    let mut bad = FakeC1::sync_full_task(1);
    bad.id = "short".into();
    let error = FakeC1::start(FakeC1Config { tasks: vec![bad], ..FakeC1Config::default() }).unwrap_err();
    assert!(error.to_string().contains("short"));
}

#[tokio::test]
async fn hello_is_recorded_and_checked_like_c1() {
    let fake = start(FakeC1Config::default());
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    client.hello(authed(full_hello(""), &token)).await.expect("startup hello");
    client.hello(authed(full_hello(&FakeC1::task_id(9)), &token)).await.expect("hello task");
    let mut missing_os = full_hello("");
    missing_os.os_info.as_mut().unwrap().kernel_arch.clear();
    let status = client.hello(authed(missing_os, &token)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let hellos = fake.wait_for_hellos(3, Duration::from_secs(1));
    assert_eq!(hellos[0].request, full_hello(""));
    assert_eq!(hellos[0].token, token);
    assert_eq!(hellos[0].rejection, None);
    assert_eq!(hellos[1].request.task_id, FakeC1::task_id(9));
    assert_eq!(hellos[2].rejection.as_deref(), Some("os_info.kernel_arch is empty"));
}

#[tokio::test]
async fn heartbeats_are_recorded_and_cancel_the_configured_tasks() {
    let fake = start(FakeC1Config { cancel_on_heartbeat: [FakeC1::task_id(2)].into(), ..FakeC1Config::default() });
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let beat = |n: u64| BatonServiceHeartbeatRequest { host_id: HOST_ID.into(), task_id: FakeC1::task_id(n), ..Default::default() };
    let first = client.heartbeat(authed(beat(1), &token)).await.unwrap().into_inner();
    assert!(!first.cancelled);
    assert_eq!(first.next_heartbeat, Some(prost_types::Duration { seconds: 0, nanos: 200_000_000 }));
    assert!(client.heartbeat(authed(beat(2), &token)).await.unwrap().into_inner().cancelled);
    fake.cancel_task(&FakeC1::task_id(1));
    assert!(client.heartbeat(authed(beat(1), &token)).await.unwrap().into_inner().cancelled);
    let heartbeats = fake.wait_for_heartbeats(3, Duration::from_secs(1));
    let ids: Vec<String> = heartbeats.iter().map(|h| h.request.task_id.clone()).collect();
    assert_eq!(ids, [FakeC1::task_id(1), FakeC1::task_id(2), FakeC1::task_id(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_task_is_recorded_and_can_be_waited_for() {
    let fake = start(FakeC1Config::default());
    let token = access_token(&fake).await;
    let finish = BatonServiceFinishTaskRequest {
        host_id: HOST_ID.into(),
        task_id: FakeC1::task_id(5),
        status: None,
        final_state: Some(FinalState::Success(Success::default())),
    };
    let expected = finish.clone();
    let grpc_url = fake.grpc_url();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut client = BatonServiceClient::connect(grpc_url).await.unwrap();
        client.finish_task(authed(finish, &token)).await.unwrap();
    });
    let finished = tokio::task::block_in_place(|| fake.wait_for_finished(1, Duration::from_secs(5)));
    sender.await.unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].request, expected);
    assert!(fake.wait_for_finished(2, Duration::from_millis(50)).len() == 1);
    let mut client = client(&fake).await;
    let token = access_token(&fake).await;
    let no_state = BatonServiceFinishTaskRequest { final_state: None, ..expected };
    let status = client.finish_task(authed(no_state, &token)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(fake.finished()[1].rejection.is_some());
}

#[tokio::test]
async fn upload_in_chunks_is_assembled_and_accepted() {
    let fake = start(FakeC1Config::default());
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let file = test_file(1_300_000);
    let checksum = Sha256::digest(&file);
    let messages = upload_stream(&FakeC1::task_id(1), &file, 512 * 1024, &checksum);
    upload(&mut client, &token, messages).await.expect("accepted");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1);
    let record = &uploads[0];
    assert!(record.accepted(), "{:?}", record.rejection);
    assert_eq!(record.token, token);
    assert_eq!(record.task_id.as_deref(), Some(FakeC1::task_id(1).as_str()));
    assert_eq!(record.host_id.as_deref(), Some(HOST_ID));
    assert_eq!(record.chunk_sizes, [524_288, 524_288, 251_424]);
    assert_eq!(record.data, file);
    assert_eq!(record.sha256_matched, Some(true));
}

#[tokio::test]
async fn upload_with_a_wrong_checksum_is_rejected() {
    let fake = start(FakeC1Config::default());
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let file = test_file(10_000);
    let messages = upload_stream(&FakeC1::task_id(1), &file, 4096, &Sha256::digest(b"other"));
    let status = upload(&mut client, &token, messages).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let record = &fake.uploads()[0];
    assert_eq!(record.sha256_matched, Some(false));
    assert_eq!(record.data, file);
    assert!(record.rejection.as_deref().unwrap().contains("checksum"));
}

#[tokio::test]
async fn upload_protocol_violations_are_rejected_and_recorded() {
    let fake = start(FakeC1Config::default());
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let id = FakeC1::task_id(1);
    let sum = Sha256::digest(b"abc").to_vec();
    let cases = [
        (vec![data(b"abc"), eof(&sum)], "first message is data"),
        (vec![metadata(&id), data(b""), eof(&sum)], "data chunk of 0 bytes"),
        (vec![metadata(&id), data(&vec![1; 1024 * 1024 + 1]), eof(&sum)], "data chunk of 1048577 bytes"),
        (vec![metadata(&id), data(b"abc")], "the end of the stream"),
        (vec![metadata(&id), data(b"abc"), eof(&sum[..31])], "31 bytes"),
        (vec![metadata(&id), data(b"abc"), eof(&sum), data(b"x")], "after eof"),
        (vec![metadata("bad id"), data(b"abc"), eof(&sum)], "task_id"),
        (vec![metadata(&id), metadata(&id), data(b"abc"), eof(&sum)], "got metadata"),
    ];
    for (messages, reason) in cases {
        let status = upload(&mut client, &token, messages).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{reason}");
        let record = fake.uploads().pop().unwrap();
        let rejection = record.rejection.unwrap();
        assert!(rejection.contains(reason), "{rejection:?} lacks {reason:?}");
    }
    let largest = vec![2; 1024 * 1024];
    let messages = upload_stream(&id, &largest, largest.len(), &Sha256::digest(&largest));
    upload(&mut client, &token, messages).await.expect("a 1 MiB chunk is allowed");
}

#[tokio::test]
async fn injected_upload_failures_come_first_then_uploads_succeed() {
    let fake = start(FakeC1Config { fail_uploads: 2, ..FakeC1Config::default() });
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let file = test_file(2000);
    let messages = || upload_stream(&FakeC1::task_id(1), &file, 1000, &Sha256::digest(&file));
    for _ in 0..2 {
        let status = upload(&mut client, &token, messages()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }
    upload(&mut client, &token, messages()).await.expect("third attempt succeeds");
    let outcomes: Vec<Option<String>> = fake.wait_for_uploads(3, Duration::from_secs(1)).into_iter().map(|u| u.rejection).collect();
    let injected = Some("injected upload failure".to_string());
    assert_eq!(outcomes, [injected.clone(), injected, None]);
}

/// A scripted future task reaches a client as a task with an id and no case it knows, and on
/// the wire it really carries the unknown field (a client with that case would decode it).
#[tokio::test]
async fn a_future_task_carries_an_unknown_case_on_the_wire() {
    let fake = start(FakeC1Config { tasks: vec![FakeC1::future_task(7), FakeC1::hello_task(8)], ..FakeC1Config::default() });
    let token = access_token(&fake).await;
    let mut client = client(&fake).await;
    let first = client.get_task(authed(poll(), &token)).await.unwrap().into_inner();
    let task = first.task.expect("a task");
    assert_eq!(task.id, FakeC1::task_id(7));
    assert!(task.task_type.is_none(), "no case this build knows");
    assert!(first.next_poll.is_some(), "the other fields survive the rewrite");
    let second = client.get_task(authed(poll(), &token)).await.unwrap().into_inner();
    assert!(matches!(second.task.unwrap().task_type, Some(task::TaskType::Hello(_))), "known tasks pass untouched");

    /// What a newer build would decode: the task with the case numbered FUTURE_FIELD.
    #[derive(Clone, PartialEq, prost::Message)]
    struct NewerTask {
        #[prost(string, tag = "1")]
        id: String,
        #[prost(message, optional, tag = "150")]
        future: Option<()>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct NewerResponse {
        #[prost(message, optional, tag = "1")]
        task: Option<NewerTask>,
    }
    let plain = BatonServiceGetTaskResponse { task: Some(FakeC1::future_task(9)), ..Default::default() }.encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(plain.len() as u32).to_be_bytes());
    framed.extend_from_slice(&plain);
    let rewritten = rewrite_frame(&framed).expect("rewritten");
    let newer = NewerResponse::decode(&rewritten[5..]).unwrap();
    let newer_task = newer.task.unwrap();
    assert_eq!(newer_task.id, FakeC1::task_id(9));
    assert!(newer_task.future.is_some(), "field {FUTURE_FIELD} is on the wire");
}
