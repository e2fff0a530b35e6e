//! The program's identity, given by the binary that embeds the host (`main.rs`), so that the
//! host library names no product.

/// Who this program is. The binary that embeds the host names it (`main.rs`), so the host
/// library names no product; everything else about the connector comes from its component.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// The program's name: its `--help`, the compile cache folder, the user agent.
    pub name: &'static str,
    /// The program's version.
    pub version: &'static str,
    /// File name of the component shipped beside the binary, used unless `--component` names one.
    pub component_file: &'static str,
}

impl Product {
    /// The component shipped with this program: the file beside it, else the workspace's
    /// guest build (a development tree).
    pub fn builtin_component(&self) -> anyhow::Result<std::path::PathBuf> {
        // Without /proc (a bare chroot), the path the program was started by, when absolute.
        let started_as = || std::env::args_os().next().map(std::path::PathBuf::from).filter(|p| p.is_absolute());
        let exe = std::env::current_exe()
            .ok()
            .or_else(started_as)
            .ok_or_else(|| anyhow::anyhow!("cannot locate this program (no /proc, and not started by an absolute path)"))?;
        let dir = exe.parent().unwrap_or(std::path::Path::new("."));
        let candidates = [dir.join(self.component_file), dir.join("..").join("wasm32-wasip2").join("guest").join(self.component_file)];
        candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "cannot find the connector component: looked for {} and {}; build it with `make component` or pass --component PATH",
                candidates[0].display(),
                candidates[1].display()
            )
        })
    }
}
