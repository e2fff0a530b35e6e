//! Version discovery: `/rest/api/server-information` (9.1+) and the applinks manifest
//! (all versions; JSON when asked for, XML otherwise) — docs/confluence-dc.md §2.2.

use serde_json::{Value, json};

use crate::request::SimRequest;
use crate::responses::{HttpResponse, escape_xml, ok_json, xml_response};
use crate::state::SimState;
use axum::http::StatusCode;

const BUILD_DATE: &str = "2024-05-21T00:00:00.000Z";
const APPLINKS_VERSION: &str = "9.0.3";
const SERVER_ID: &str = "8f6d3c1a-5b2e-3c4d-9e0f-1a2b3c4d5e6f";

pub fn server_information(state: &SimState) -> HttpResponse {
    let build_number = state.version.build_number();
    ok_json(&json!({
        "baseUrl": state.link_base(),
        "version": state.version.display(),
        "buildNumber": build_number,
        "marketplaceBuildNumber": build_number,
        "buildDate": BUILD_DATE,
    }))
}

pub fn applinks_manifest(state: &SimState, request: &SimRequest) -> HttpResponse {
    let manifest = manifest_json(state);
    if request.wants_json() { ok_json(&manifest) } else { xml_response(StatusCode::OK, manifest_xml(&manifest)) }
}

fn manifest_json(state: &SimState) -> Value {
    let base = state.link_base();
    json!({
        "id": SERVER_ID,
        "name": "Confluence",
        "typeId": "confluence",
        "version": state.version.display(),
        "buildNumber": state.version.build_number(),
        "applinksVersion": APPLINKS_VERSION,
        "inboundAuthenticationTypes": [
            "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider",
            "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"
        ],
        "outboundAuthenticationTypes": [
            "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider",
            "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"
        ],
        "publicSignup": false,
        "url": base,
        "iconUrl": format!("{base}/images/logo/confluence-logo.png"),
        "iconUri": format!("{base}/images/logo/confluence-logo.png"),
    })
}

/// `<manifest>` with one element per scalar field and repeated elements for lists.
fn manifest_xml(manifest: &Value) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><manifest>");
    if let Some(fields) = manifest.as_object() {
        for (name, value) in fields {
            match value {
                Value::Array(items) => items.iter().for_each(|item| xml.push_str(&xml_element(name, item))),
                other => xml.push_str(&xml_element(name, other)),
            }
        }
    }
    xml.push_str("</manifest>");
    xml
}

fn xml_element(name: &str, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("<{name}>{}</{name}>", escape_xml(&text))
}
