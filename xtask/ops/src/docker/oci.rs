//! An OCI image made without an engine: layers from a staged root filesystem (the tree that
//! `build-env stage` writes, the same as the Dockerfile's runtime stage), each platform's config
//! and manifest, an index of the platforms; written as an OCI image layout and as an archive that
//! `docker load` takes. Reproducible: entries sorted, owned by root, dated by one epoch, JSON with
//! sorted keys; layers uncompressed (nothing to spend on compressing a binary that changes with
//! every edit, and the same bytes every time).

use crate::hash::sha256_hex;
use crate::plan::write_whole;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The layers of an image, least often changed first, so that an edit changes only the last
/// (the binary's): the libraries (every path no other layer claims), the CA certificates, the
/// user, the binary. A layer claims a path and everything below it.
const LAYERS: [(&str, &[&str]); 4] = [
    ("libraries", &[]),
    ("certificates", &["etc/ssl"]),
    ("user", &["etc/passwd", "etc/group", "tmp"]),
    ("binary", &["usr/local/bin", "entrypoint"]),
];

/// Content-addressed bytes.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media: &'static str,
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn new(media: &'static str, bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        Blob {
            media,
            bytes,
            digest,
        }
    }

    fn json(media: &'static str, value: &Value) -> Blob {
        Blob::new(
            media,
            serde_json::to_vec(value).expect("JSON of plain values"),
        )
    }

    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media, "digest": self.digest, "size": self.bytes.len() })
    }

    /// Its place in a layout: `blobs/sha256/<hex>`.
    pub fn path(&self) -> String {
        format!("blobs/{}", self.digest.replacen(':', "/", 1))
    }
}

/// What an image says about itself besides its files.
pub struct Meta<'a> {
    /// Docker's architecture name (`amd64`, `arm64`).
    pub arch: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// The layers' time and the image's `created`, in seconds since 1970.
    pub epoch: u64,
}

/// One platform's image.
pub struct Image {
    pub arch: String,
    pub layers: Vec<Blob>,
    pub config: Blob,
    pub manifest: Blob,
}

impl Image {
    /// The image of the staged tree `root`.
    pub fn of_tree(root: &Path, meta: &Meta) -> anyhow::Result<Image> {
        let groups = claim(root)?;
        let layers = groups
            .iter()
            .filter(|paths| !paths.is_empty())
            .map(|paths| Ok(Blob::new(LAYER, layer_tar(root, paths, meta.epoch)?)))
            .collect::<anyhow::Result<Vec<Blob>>>()?;
        let created = crate::render::rfc3339_of(meta.epoch)?;
        let mut config = json!({
            "created": created,
            "architecture": meta.arch,
            "os": "linux",
            "config": {
                "User": "10001:10001",
                "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                ],
                "Entrypoint": ["/entrypoint"],
                "Labels": meta.labels,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>(),
            },
        });
        if let Some(variant) = arch_variant(meta.arch) {
            config["variant"] = json!(variant);
        }
        let config = Blob::json(CONFIG, &config);
        let manifest = Blob::json(
            MANIFEST,
            &json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": config.descriptor(),
                "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
            }),
        );
        Ok(Image {
            arch: meta.arch.to_string(),
            layers,
            config,
            manifest,
        })
    }

    fn platform(&self) -> Value {
        let mut platform = json!({ "architecture": self.arch, "os": "linux" });
        if let Some(variant) = arch_variant(&self.arch) {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

fn arch_variant(arch: &str) -> Option<&'static str> {
    (arch == "arm64").then_some("v8")
}

/// Each layer's paths (relative to `root`, sorted), in [`LAYERS`] order.
fn claim(root: &Path) -> anyhow::Result<Vec<BTreeSet<PathBuf>>> {
    let mut groups = vec![BTreeSet::new(); LAYERS.len()];
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry =
            entry.with_context(|| format!("reading the staged image {}", root.display()))?;
        let rel = entry.path().strip_prefix(root)?.to_path_buf();
        let owner = LAYERS
            .iter()
            .rposition(|(_, claims)| claims.iter().any(|c| rel.starts_with(c)));
        // A folder goes where a claim puts it (the user's /tmp), else with what it holds.
        if entry.file_type().is_dir() && owner.is_none() {
            continue;
        }
        let group = &mut groups[owner.unwrap_or(0)];
        for ancestor in rel.ancestors().skip(1) {
            if !ancestor.as_os_str().is_empty() {
                group.insert(ancestor.to_path_buf());
            }
        }
        group.insert(rel);
    }
    Ok(groups)
}

/// A tar of `paths` under `root`: sorted, owned by root, dated `epoch`, modes as staged.
fn layer_tar(root: &Path, paths: &BTreeSet<PathBuf>, epoch: u64) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut tar = tar::Builder::new(Vec::new());
    for rel in paths {
        let path = root.join(rel);
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(epoch);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(meta.permissions().mode() & 0o7777);
        let kind = meta.file_type();
        let failed = || format!("adding {} to a layer", path.display());
        if kind.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            let target = std::fs::read_link(&path)?;
            tar.append_link(&mut header, rel, target)
                .with_context(failed)?;
        } else if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, rel, std::io::empty())
                .with_context(failed)?;
        } else if kind.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = std::fs::File::open(&path).with_context(failed)?;
            tar.append_data(&mut header, rel, file)
                .with_context(failed)?;
        } else {
            bail!("{} is neither a file, a folder nor a link", path.display());
        }
    }
    tar.into_inner().context("finishing a layer")
}

/// Every platform's image under one name: the index (or the one manifest) the name points at.
pub struct Set {
    pub images: Vec<Image>,
    /// The image's own index when there are several platforms.
    pub index: Option<Blob>,
    /// `repo:tag`.
    pub name: String,
}

impl Set {
    pub fn new(images: Vec<Image>, name: String) -> Set {
        let index = (images.len() > 1).then(|| {
            Blob::json(
                INDEX,
                &json!({
                    "schemaVersion": 2,
                    "mediaType": INDEX,
                    "manifests": images.iter().map(|i| {
                        let mut d = i.manifest.descriptor();
                        d["platform"] = i.platform();
                        d
                    }).collect::<Vec<_>>(),
                }),
            )
        });
        Set {
            images,
            index,
            name,
        }
    }

    /// The name's digest: what a registry would give for it.
    pub fn digest(&self) -> &str {
        match &self.index {
            Some(index) => &index.digest,
            None => &self.images[0].manifest.digest,
        }
    }

    fn blobs(&self) -> Vec<&Blob> {
        let mut blobs: Vec<&Blob> = Vec::new();
        for image in &self.images {
            blobs.extend(image.layers.iter());
            blobs.push(&image.config);
            blobs.push(&image.manifest);
        }
        blobs.extend(self.index.iter());
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        blobs.dedup_by(|a, b| a.digest == b.digest);
        blobs
    }

    /// The layout's own files: `oci-layout`, `index.json` (the name's descriptor, its tag as
    /// `org.opencontainers.image.ref.name`) and Docker's `manifest.json` for the image of `arch`
    /// (what `docker load` reads; an engine loads one platform).
    fn top_files(&self, arch: Option<&str>) -> Vec<(&'static str, Vec<u8>)> {
        let mut top = match &self.index {
            Some(index) => index.descriptor(),
            None => {
                let mut d = self.images[0].manifest.descriptor();
                d["platform"] = self.images[0].platform();
                d
            }
        };
        top["annotations"] = json!({
            "org.opencontainers.image.ref.name": self.name.rsplit_once(':').map_or("", |(_, t)| t),
            "io.containerd.image.name": self.name,
        });
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [top] });
        let loaded = arch
            .and_then(|a| self.images.iter().find(|i| i.arch == a))
            .map(|i| {
                json!([{
                    "Config": i.config.path(),
                    "RepoTags": [self.name],
                    "Layers": i.layers.iter().map(Blob::path).collect::<Vec<_>>(),
                }])
            })
            .unwrap_or(json!([]));
        vec![
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("index.json", serde_json::to_vec(&index).expect("JSON")),
            ("manifest.json", serde_json::to_vec(&loaded).expect("JSON")),
        ]
    }

    /// Write the OCI layout in `dir` (blobs that are there already are kept, blobs no longer
    /// named are removed) and, if asked, the archive `archive` (`docker load -i`), each file
    /// made beside its place and renamed over it.
    pub fn write(
        &self,
        dir: &Path,
        archive: Option<&Path>,
        arch: Option<&str>,
    ) -> anyhow::Result<()> {
        let blobs = self.blobs();
        let blob_dir = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir)
            .with_context(|| format!("creating {}", blob_dir.display()))?;
        for blob in &blobs {
            let path = dir.join(blob.path());
            if !path.exists() {
                write_whole(&path, &blob.bytes)?;
            }
        }
        let top = self.top_files(arch);
        for (name, bytes) in &top {
            write_whole(&dir.join(name), bytes)?;
        }
        let named: BTreeSet<PathBuf> = blobs.iter().map(|b| dir.join(b.path())).collect();
        for entry in std::fs::read_dir(&blob_dir)? {
            let path = entry?.path();
            if !named.contains(&path) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing the old blob {}", path.display()))?;
            }
        }
        let Some(archive) = archive else {
            return Ok(());
        };
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            tar.append_data(&mut header, name, bytes)
                .with_context(|| format!("adding {name} to the archive"))
        };
        for (name, bytes) in &top {
            add(name, bytes)?;
        }
        for blob in &blobs {
            add(&blob.path(), &blob.bytes)?;
        }
        write_whole(archive, &tar.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(root: &Path, binary: &[u8]) {
        std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(root.join("lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("usr/local/bin/app"), binary).unwrap();
        std::fs::write(root.join("lib/x86_64-linux-gnu/libc.so.6"), b"libc").unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            b"app:x:10001:10001::/:/sbin/nologin\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/usr/local/bin/app", root.join("entrypoint")).unwrap();
    }

    fn image(root: &Path, epoch: u64) -> Image {
        let labels = BTreeMap::from([("org.opencontainers.image.title".into(), "app".into())]);
        let meta = Meta {
            arch: "amd64",
            labels: &labels,
            epoch,
        };
        Image::of_tree(root, &meta).unwrap()
    }

    fn names(layer: &Blob) -> Vec<String> {
        let mut archive = tar::Archive::new(layer.bytes.as_slice());
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn the_same_tree_gives_the_same_digest_and_an_edit_changes_only_the_binary_layer() {
        let dir = crate::test_support::scratch("oci-digest");
        let (a, b) = (dir.join("a"), dir.join("b"));
        stage(&a, b"binary 1");
        stage(&b, b"binary 1");
        let (one, two) = (image(&a, 1_700_000_000), image(&b, 1_700_000_000));
        assert_eq!(one.manifest.digest, two.manifest.digest);
        assert_eq!(
            one.layers.len(),
            3,
            "libraries, user, binary (no certificates)"
        );
        assert_eq!(
            names(&one.layers[0]),
            [
                "lib",
                "lib/x86_64-linux-gnu",
                "lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        assert_eq!(names(&one.layers[1]), ["etc", "etc/passwd", "tmp"]);
        assert_eq!(
            names(&one.layers[2]),
            [
                "entrypoint",
                "usr",
                "usr/local",
                "usr/local/bin",
                "usr/local/bin/app"
            ]
        );
        std::fs::write(b.join("usr/local/bin/app"), b"binary 2").unwrap();
        let edited = image(&b, 1_700_000_000);
        assert_ne!(edited.manifest.digest, one.manifest.digest);
        assert_eq!(
            edited.layers[..2]
                .iter()
                .map(|l| &l.digest)
                .collect::<Vec<_>>(),
            one.layers[..2]
                .iter()
                .map(|l| &l.digest)
                .collect::<Vec<_>>()
        );
        assert_ne!(edited.layers[2].digest, one.layers[2].digest);
        // Another epoch is another image.
        assert_ne!(image(&a, 1).manifest.digest, one.manifest.digest);
    }

    #[test]
    fn the_layout_keeps_only_the_blobs_its_index_names() {
        let dir = crate::test_support::scratch("oci-layout");
        let root = dir.join("stage");
        stage(&root, b"binary 1");
        let layout = dir.join("layout");
        let archive = dir.join("image.tar");
        let first = Set::new(vec![image(&root, 0)], "app:dev".into());
        first.write(&layout, Some(&archive), Some("amd64")).unwrap();
        std::fs::write(root.join("usr/local/bin/app"), b"binary 2").unwrap();
        let second = Set::new(vec![image(&root, 0)], "app:dev".into());
        second
            .write(&layout, Some(&archive), Some("amd64"))
            .unwrap();
        let on_disk = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(on_disk, second.blobs().len());
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], second.digest());
        let loaded: Value =
            serde_json::from_slice(&std::fs::read(layout.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(loaded[0]["RepoTags"][0], "app:dev");
        let in_archive: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(in_archive.contains(&"manifest.json".to_string()));
        assert!(in_archive.contains(&second.images[0].layers[2].path()));
    }
}
