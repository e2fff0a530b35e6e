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
