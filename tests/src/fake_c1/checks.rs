//! The request rules the fake enforces like ConductorOne's validation (docs/c1z-and-c1.md
//! §4.5, §5.1–5.2, §5.6): host ids of 1 to 256 characters, task ids of 27 letters or digits,
//! required messages and Hello's every build and OS field non-empty. Each returns why a
//! request breaks a rule.

use baton_c1api::pb::{BatonServiceFinishTaskRequest, BatonServiceHelloRequest, baton_service_hello_request};

pub const TASK_ID_LENGTH: usize = 27;
const MAX_HOST_ID_CHARS: usize = 256;

pub fn is_task_id(id: &str) -> bool {
    id.len() == TASK_ID_LENGTH && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn host_id(host_id: &str) -> Result<(), String> {
    let chars = host_id.chars().count();
    if (1..=MAX_HOST_ID_CHARS).contains(&chars) { Ok(()) } else { Err(format!("host_id has {chars} characters, not 1 to {MAX_HOST_ID_CHARS}")) }
}

pub fn task_id(task_id: &str) -> Result<(), String> {
    if is_task_id(task_id) { Ok(()) } else { Err(format!("task_id {task_id:?} is not {TASK_ID_LENGTH} letters or digits")) }
}

pub fn hello(request: &BatonServiceHelloRequest) -> Result<(), String> {
    host_id(&request.host_id)?;
    if !request.task_id.is_empty() {
        task_id(&request.task_id)?;
    }
    let build_info = request.build_info.as_ref().ok_or("build_info is missing")?;
    every_field_set("build_info", &build_info_fields(build_info))?;
    let os_info = request.os_info.as_ref().ok_or("os_info is missing")?;
    every_field_set("os_info", &os_info_fields(os_info))?;
    if request.connector_metadata.is_none() {
        return Err("connector_metadata is missing".into());
    }
    Ok(())
}

pub fn finish_task(request: &BatonServiceFinishTaskRequest) -> Result<(), String> {
    host_id(&request.host_id)?;
    task_id(&request.task_id)?;
    if request.final_state.is_none() {
        return Err("final_state (error or success) is missing".into());
    }
    Ok(())
}

fn every_field_set(message: &str, fields: &[(&str, &str)]) -> Result<(), String> {
    match fields.iter().find(|(_, value)| value.is_empty()) {
        Some((name, _)) => Err(format!("{message}.{name} is empty")),
        None => Ok(()),
    }
}

fn build_info_fields(info: &baton_service_hello_request::BuildInfo) -> [(&'static str, &str); 3] {
    [("lang_version", &info.lang_version), ("package", &info.package), ("package_version", &info.package_version)]
}

fn os_info_fields(info: &baton_service_hello_request::OsInfo) -> [(&'static str, &str); 8] {
    [
        ("hostname", &info.hostname),
        ("os", &info.os),
        ("platform", &info.platform),
        ("platform_version", &info.platform_version),
        ("platform_family", &info.platform_family),
        ("kernel_version", &info.kernel_version),
        ("kernel_arch", &info.kernel_arch),
        ("virtualization_system", &info.virtualization_system),
    ]
}
