//! What Hello tells ConductorOne about this process: the connector's metadata (with its
//! capabilities), the build and the operating system. Every field is filled: older
//! ConductorOne validation rejected empty ones (docs/c1z-and-c1.md §5.2).

use crate::capabilities;
use baton_c1api::pb::BatonServiceHelloRequest;
use baton_c1api::pb::baton_service_hello_request::{BuildInfo, OsInfo};
use baton_c1z::pb::ConnectorMetadata;
use baton_sandbox::wit;

/// The connector's metadata, from the component's own declarations.
pub fn connector_metadata(metadata: &wit::Metadata, types: &[wit::ResourceType]) -> ConnectorMetadata {
    ConnectorMetadata {
        display_name: metadata.display_name.clone(),
        description: metadata.description.clone(),
        capabilities: Some(capabilities::proto(metadata, types)),
        ..Default::default()
    }
}

/// A Hello for `task_id` (empty at start-up).
pub fn request(host_id: &str, task_id: &str, metadata: ConnectorMetadata) -> BatonServiceHelloRequest {
    BatonServiceHelloRequest {
        host_id: host_id.to_string(),
        task_id: task_id.to_string(),
        build_info: Some(build_info()),
        os_info: Some(os_info()),
        connector_metadata: Some(metadata),
        annotations: Vec::new(),
    }
}

fn build_info() -> BuildInfo {
    BuildInfo {
        lang_version: format!("rust{}", env!("CARGO_PKG_RUST_VERSION")),
        package: env!("CARGO_PKG_NAME").to_string(),
        package_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

fn os_info() -> OsInfo {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |name: &str| {
        release
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(|value| value.trim_matches('"').to_string())
            .filter(|value| !value.is_empty())
    };
    let platform = field("ID").unwrap_or_else(|| "unknown".into());
    OsInfo {
        hostname: hostname().unwrap_or_else(|| "unknown".into()),
        os: std::env::consts::OS.to_string(),
        platform_version: field("VERSION_ID").unwrap_or_else(|| "unknown".into()),
        platform_family: field("ID_LIKE").unwrap_or_else(|| platform.clone()),
        platform,
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        kernel_arch: std::env::consts::ARCH.to_string(),
        virtualization_system: if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() { "kubernetes".into() } else { "none".into() },
    }
}

/// This machine's name, if it can be read.
pub fn hostname() -> Option<String> {
    read_trimmed("/proc/sys/kernel/hostname").or_else(|| read_trimmed("/etc/hostname"))
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `host_id` for every request: `BATON_HOST_ID`, else the host name, else `baton-sdk`; 1 to
/// 256 characters.
pub fn host_id(configured: Option<&str>) -> String {
    let id = configured.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).or_else(hostname).unwrap_or_else(|| "baton-sdk".into());
    id.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_and_os_field_is_filled() {
        let hello = request("h", "", ConnectorMetadata { display_name: "X".into(), ..Default::default() });
        let build = hello.build_info.unwrap();
        let os = hello.os_info.unwrap();
        for value in [
            &build.lang_version,
            &build.package,
            &build.package_version,
            &os.hostname,
            &os.os,
            &os.platform,
            &os.platform_version,
            &os.platform_family,
            &os.kernel_version,
            &os.kernel_arch,
            &os.virtualization_system,
        ] {
            assert!(!value.is_empty(), "{build:?} {os:?}");
        }
    }

    #[test]
    fn host_ids_are_bounded() {
        assert_eq!(host_id(Some("  pod-1 ")), "pod-1");
        assert_eq!(host_id(Some(&"x".repeat(300))).len(), 256);
        assert!(!host_id(None).is_empty());
    }
}
