//! The one wasmtime engine of a process, shared by every component it runs: its configuration
//! (component model, epoch interruption, optionally the pooling
//! instance allocator), the epoch ticker CPU budgets are counted in, and the components it has
//! compiled, kept by the SHA-256 digest of their bytes so that a component many tenants use is
//! compiled and linked once, and each kept compiled for this machine in the user's cache folder
//! (mapped on later starts instead of compiled).

use crate::epoch::Ticker;
use crate::pool::{Pooling, pooling_config};
use crate::runtime::{self, Runtime};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

/// The engine, its ticker and its compiled components.
pub struct Sandbox {
    engine: Engine,
    ticker: Arc<Ticker>,
    compiled: Mutex<HashMap<String, Runtime>>,
    /// Where each component compiled for this machine is kept, uncompressed, named by its
    /// digest and the engine's compatibility hash (none without a cache folder): a later start
    /// maps the file instead of compiling (seconds) or decompressing, and whether a file is
    /// there says whether the first compile is still to come (worth announcing).
    prepared_dir: Option<PathBuf>,
    /// Kept files found damaged or changed (and compiled again), for the caller to report.
    damaged: Mutex<Vec<PathBuf>>,
}

impl Sandbox {
    /// An engine for `program` (the compile cache's folder name), with the pooling allocator
    /// when `pooling` is given.
    pub fn new(program: &str, pooling: Option<Pooling>) -> Result<Sandbox> {
        let config = engine_config(pooling);
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("cannot set up the WebAssembly engine")?;
        let ticker = Ticker::start(engine.clone())?;
        let prepared_dir = cache_dir(program).map(|dir| dir.join("prepared"));
        Ok(Sandbox { engine, ticker, compiled: Mutex::new(HashMap::new()), prepared_dir, damaged: Mutex::new(Vec::new()) })
    }

    /// Whether loading `bytes` will find them compiled already (in this process, or in the
    /// on-disk cache for this engine); when not, loading compiles them: seconds of CPU.
    pub fn is_prepared(&self, bytes: &[u8]) -> bool {
        let digest = digest(bytes);
        if self.compiled.lock().is_ok_and(|compiled| compiled.contains_key(&digest)) {
            return true;
        }
        self.artifact(&digest).is_some_and(|artifact| is_private_file(&artifact))
    }

    /// The kept files found damaged or changed since the last time this was asked (each was
    /// compiled again), for a caller that logs once logging is set up.
    pub fn take_damaged(&self) -> Vec<PathBuf> {
        self.damaged.lock().map(|mut damaged| std::mem::take(&mut *damaged)).unwrap_or_default()
    }

    /// Whether compiled components outlive the process (a cache folder is there).
    pub fn has_compile_cache(&self) -> bool {
        self.prepared_dir.is_some()
    }

    /// Where `digest` compiled by an engine of this configuration is kept.
    fn artifact(&self, digest: &str) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        let mut engine = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine);
        let hex = digest.trim_start_matches("sha256:");
        Some(self.prepared_dir.as_ref()?.join(format!("{hex}-{:016x}.cwasm", engine.finish())))
    }

    /// The component in `bytes`, compiled and linked once per digest (mapped from the cache
    /// folder when it was compiled there before); `name` says where it came from, for messages.
    pub fn load(&self, bytes: &[u8], name: &str) -> Result<Runtime> {
        let digest = digest(bytes);
        if let Some(runtime) = self.compiled.lock().ok().and_then(|compiled| compiled.get(&digest).cloned()) {
            return Ok(runtime);
        }
        let artifact = self.artifact(&digest);
        let component = match artifact.as_deref().and_then(|path| self.cached_component(path)) {
            Some(component) => component,
            None => {
                let component =
                    Component::new(&self.engine, bytes).map_err(anyhow::Error::from).with_context(|| format!("{name} is not a valid connector component"))?;
                if let Some(path) = &artifact {
                    keep_compiled(&component, path);
                }
                component
            }
        };
        let runtime = runtime::link(&self.engine, &component, digest.clone(), self.ticker.clone())?;
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.insert(digest, runtime.clone());
        }
        Ok(runtime)
    }

    /// The component this program compiled into `path` before, when the file is there, ours
    /// alone to write, the very bytes this program wrote (its digest, kept beside it, matches)
    /// and made by a compatible engine; otherwise none (and a file that is damaged or does not
    /// load is removed, to be compiled again).
    fn cached_component(&self, path: &Path) -> Option<Component> {
        let bytes = read_trusted(path, Owners::ThisUser)?;
        let Some(recorded) = read_trusted(&digest_path(path), Owners::ThisUser).and_then(|d| String::from_utf8(d).ok()) else {
            // Kept by an earlier version, which recorded no digest: compiled again, quietly.
            tracing::debug!(file = %path.display(), "the compiled component in the cache has no recorded digest; compiling it again");
            let _ = std::fs::remove_file(path);
            return None;
        };
        if recorded != digest(&bytes) {
            tracing::warn!(file = %path.display(), "the compiled component in the cache is damaged or was changed; compiling it again");
            let _ = std::fs::remove_file(path);
            if let Ok(mut damaged) = self.damaged.lock() {
                damaged.push(path.to_path_buf());
            }
            return None;
        }
        // SAFETY: these are the bytes this program wrote (`keep_compiled`; their digest matches
        // the one it recorded) in the user's own cache folder, read from a file nobody else may
        // write; wasmtime checks the engine.
        match unsafe { Component::deserialize(&self.engine, &bytes) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::debug!(file = %path.display(), error = %err, "the compiled component in the cache does not load; compiling it again");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// `bytes` compiled for this engine's machine, as [`Self::load_precompiled`] reads it.
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        self.engine.precompile_component(bytes).map_err(anyhow::Error::from).context("cannot compile the component")
    }

    /// The component in `bytes`, from `precompiled` (what [`Self::precompile`] wrote for these
    /// bytes) when that file is as trusted as this program (a regular file, not a link, that it
    /// and its folder belong to root or to this user and no one else may write, checked on the
    /// open file) and made by a compatible engine, else compiled as [`Self::load`] does. The
    /// caller vouches for where the file is: only beside the component shipped with this
    /// program, never beside one a user or a registry supplied.
    pub fn load_precompiled(&self, bytes: &[u8], precompiled: &Path, name: &str) -> Result<Runtime> {
        let digest = digest(bytes);
        let Some(native) = read_trusted(precompiled, Owners::RootOrThisUser) else {
            tracing::debug!(file = %precompiled.display(), "a precompiled component others could write is ignored");
            return self.load(bytes, name);
        };
        // SAFETY: wasmtime checks that the bytes were made by a compatible engine; that they are
        // the compiled form of `bytes` is the caller's promise (see above), and they were read
        // from a file only root or this user could have written.
        match unsafe { Component::deserialize(&self.engine, &native) } {
            Ok(component) => {
                let runtime = runtime::link(&self.engine, &component, digest.clone(), self.ticker.clone())?;
                if let Ok(mut compiled) = self.compiled.lock() {
                    compiled.insert(digest, runtime.clone());
                }
                Ok(runtime)
            }
            Err(err) => {
                tracing::debug!(file = %precompiled.display(), error = %err, "the precompiled component does not fit this engine; compiling it");
                self.load(bytes, name)
            }
        }
    }

    /// The component in the file at `path` (see [`Self::load`]).
    pub fn load_file(&self, path: &Path) -> Result<Runtime> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read the connector component {}", path.display()))?;
        self.load(&bytes, &path.display().to_string())
    }

    /// How many distinct components this engine has compiled.
    pub fn compiled(&self) -> usize {
        self.compiled.lock().map(|compiled| compiled.len()).unwrap_or_default()
    }
}

/// `sha256:` and the hex digest of `bytes`, as OCI names blobs.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The engine's configuration.
fn engine_config(pooling: Option<Pooling>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    if let Some(pooling) = pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(pooling)));
    }
    config
}

/// Writes `component` compiled to `path` (beside it first, then renamed, so a reader never maps
/// half a file), in a folder only the user can write. Best effort: without it the next start
/// compiles again.
fn keep_compiled(component: &Component, path: &Path) {
    let Some(dir) = path.parent() else { return };
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        let staged = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(staged.path(), &bytes)?;
        staged.persist(path).map_err(|e| e.error)?;
        // Its digest beside it, so a damaged or swapped file is never mapped as code.
        let staged = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(staged.path(), digest(&bytes))?;
        staged.persist(digest_path(path)).map_err(|e| e.error)?;
        Ok(())
    })();
    if let Err(err) = written {
        tracing::debug!(file = %path.display(), error = %err, "could not keep the compiled component; the next start compiles it again");
    }
}

/// Whether `path` is a regular file owned by this user and writable by no one else, in a folder
/// likewise (a compiled component is native code: one anybody else could change is not used).
#[cfg(unix)]
fn is_private_file(path: &Path) -> bool {
    let file = std::fs::symlink_metadata(path).ok().filter(|m| m.file_type().is_file());
    let dir = path.parent().and_then(|dir| std::fs::metadata(dir).ok());
    matches!((file, dir), (Some(file), Some(dir)) if Owners::ThisUser.trust(&file) && Owners::ThisUser.trust(&dir))
}

#[cfg(not(unix))]
fn is_private_file(path: &Path) -> bool {
    path.is_file()
}

/// Where the digest of the compiled component at `path` is kept.
fn digest_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Who may own a file of native code this program loads.
#[derive(Clone, Copy)]
enum Owners {
    ThisUser,
    RootOrThisUser,
}

impl Owners {
    /// Whether a file or folder with `meta` belongs to these owners and no one else may write it.
    #[cfg(unix)]
    fn trust(self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let owner = meta.uid() == me || (matches!(self, Owners::RootOrThisUser) && meta.uid() == 0);
        owner && meta.mode() & 0o022 == 0
    }
}

/// The bytes of `path` when it is a regular file (opened without following a link) that, as
/// checked on the open file, belongs to `owners` and no one else may write, in a folder
/// likewise; none otherwise. A compiled component is native code: one anybody else could have
/// written is never used.
#[cfg(unix)]
fn read_trusted(path: &Path, owners: Owners) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let trusted = |meta: &std::fs::Metadata| owners.trust(meta);
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).ok()?;
    let meta = file.metadata().ok()?;
    let folder = std::fs::metadata(path.parent()?).ok()?;
    if !meta.file_type().is_file() || !trusted(&meta) || !trusted(&folder) {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(not(unix))]
fn read_trusted(path: &Path, _owners: Owners) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn cache_dir(program: &str) -> Option<PathBuf> {
    Some(program_cache_dir(program)?.join("wasmtime"))
}

/// `program`'s folder under the user's cache directory: `$XDG_CACHE_HOME/<program>`, else
/// `~/.cache/<program>` (an empty variable counts as unset).
pub fn program_cache_dir(program: &str) -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let base = set("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join(program))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_name_the_bytes_as_oci_does() {
        assert_eq!(digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
