//! A tenant's output folder, `<output_dir>/<tenant>/`: the newest `sync.c1z` (replaced
//! atomically by the sync itself, see `baton_c1z`) and, when `keep_last` asks for more, the
//! earlier ones as `sync-<UTC time>.c1z`, oldest removed first. A failed sync leaves the folder
//! as it was.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The file name of the newest sync.
pub const NEWEST: &str = "sync.c1z";
/// Where the newest file is kept aside while a sync runs (a hard link: no copy).
const ASIDE: &str = ".sync.c1z.previous";

/// One tenant's folder.
#[derive(Debug, Clone)]
pub struct TenantFolder {
    dir: PathBuf,
}

impl TenantFolder {
    /// The folder of `tenant` under `output_dir`, created (readable by this user only) if missing.
    pub fn prepare(output_dir: &Path, tenant: &str) -> Result<TenantFolder> {
        let dir = output_dir.join(tenant);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict the output folder {} to this user", dir.display()))?;
        }
        Ok(TenantFolder { dir })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The newest file's path, which a sync writes.
    pub fn newest(&self) -> PathBuf {
        self.dir.join(NEWEST)
    }

    /// Before a sync: keeps the current newest file aside when earlier ones are to be kept.
    pub fn before_sync(&self, keep_last: usize) -> Result<()> {
        let aside = self.dir.join(ASIDE);
        let _ = std::fs::remove_file(&aside);
        if keep_last > 1 && self.newest().is_file() {
            std::fs::hard_link(self.newest(), &aside).with_context(|| format!("cannot keep {} aside", self.newest().display()))?;
        }
        Ok(())
    }

    /// After a sync: on success the file kept aside joins the earlier ones and the oldest past
    /// `keep_last` go; on failure it is let go (the newest file was never touched).
    pub fn after_sync(&self, succeeded: bool, keep_last: usize) -> Result<()> {
        let aside = self.dir.join(ASIDE);
        if !aside.is_file() {
            return Ok(());
        }
        if !succeeded {
            return std::fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()));
        }
        let written = std::fs::metadata(&aside).and_then(|m| m.modified()).unwrap_or_else(|_| std::time::SystemTime::now());
        let stamp: String = humantime::format_rfc3339_seconds(written).to_string().chars().filter(|c| !matches!(c, '-' | ':')).collect();
        let earlier = self.dir.join(format!("sync-{stamp}.c1z"));
        std::fs::rename(&aside, &earlier).with_context(|| format!("cannot keep the previous file as {}", earlier.display()))?;
        self.prune(keep_last)
    }

    /// Bytes of every file in the folder, scratch and checkpoint folders included.
    pub fn bytes(&self) -> u64 {
        fn under(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| match entry.file_type() {
                    Ok(kind) if kind.is_dir() => under(&entry.path()),
                    Ok(kind) if kind.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
                    _ => 0,
                })
                .sum()
        }
        under(&self.dir)
    }

    /// Returns once the folder holds more than `budget` bytes (checked every quarter second),
    /// with what it holds then; a sync raced against it stops there (one already renaming its
    /// finished file may still put it in place: that file is whole).
    pub async fn over_budget(&self, budget: u64) -> u64 {
        loop {
            let held = self.bytes();
            if held > budget {
                return held;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// The earlier files, oldest first.
    pub fn earlier(&self) -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("sync-") && n.ends_with(".c1z")))
            .collect();
        files.sort();
        Ok(files)
    }

    fn prune(&self, keep_last: usize) -> Result<()> {
        let earlier = self.earlier()?;
        let excess = earlier.len().saturating_sub(keep_last.saturating_sub(1));
        for old in &earlier[..excess] {
            std::fs::remove_file(old).with_context(|| format!("cannot remove the old file {}", old.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(folder: &TenantFolder, content: &str, succeeded: bool, keep_last: usize) {
        folder.before_sync(keep_last).unwrap();
        if succeeded {
            // As the writer does: a new file renamed over the newest.
            let fresh = folder.dir.join(".fresh");
            std::fs::write(&fresh, content).unwrap();
            std::fs::rename(&fresh, folder.newest()).unwrap();
        }
        folder.after_sync(succeeded, keep_last).unwrap();
    }

    #[test]
    fn keeps_the_newest_and_the_last_earlier_ones() {
        let out = tempfile::tempdir().unwrap();
        let folder = TenantFolder::prepare(out.path(), "acme").unwrap();
        sync(&folder, "one", true, 3);
        assert!(folder.earlier().unwrap().is_empty());
        for (n, content) in ["two", "three", "four"].iter().enumerate() {
            // Distinct modification times, one second apart, name distinct earlier files.
            let stamp = std::time::SystemTime::now() - std::time::Duration::from_secs(100 - n as u64);
            std::fs::File::options().write(true).open(folder.newest()).unwrap().set_modified(stamp).unwrap();
            sync(&folder, content, true, 3);
        }
        assert_eq!(std::fs::read_to_string(folder.newest()).unwrap(), "four");
        let earlier: Vec<String> = folder.earlier().unwrap().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        assert_eq!(earlier, ["two", "three"], "two earlier files, the oldest gone");
        sync(&folder, "lost", false, 3);
        assert_eq!(std::fs::read_to_string(folder.newest()).unwrap(), "four", "a failed sync changes nothing");
        assert_eq!(folder.earlier().unwrap().len(), 2);
        assert!(!folder.dir.join(ASIDE).exists());
    }

    #[test]
    fn keep_last_one_keeps_only_the_newest() {
        let out = tempfile::tempdir().unwrap();
        let folder = TenantFolder::prepare(out.path(), "acme").unwrap();
        sync(&folder, "one", true, 1);
        sync(&folder, "two", true, 1);
        assert_eq!(std::fs::read_to_string(folder.newest()).unwrap(), "two");
        assert!(folder.earlier().unwrap().is_empty());
    }
}
