//! Pulls from a real registry: Debian's `docker-registry` (distribution 2.8) runs as a child
//! process on 127.0.0.1, and `skopeo` fills it from an OCI layout built here around the host's
//! static busybox. Also loads the `docker-archive` and `oci-archive` tarballs skopeo makes from
//! that layout.
//!
//! They need `docker-registry`, `skopeo` and `busybox-static` installed and FAIL without them
//! (never skip): `apt-get install docker-registry skopeo busybox-static`, as CI does. Each test
//! has its own temporary directory (under the target directory, where binaries may run) and its
//! own registry, killed by its pid on drop even when an assertion fails.

use flate2::Compression;
use flate2::write::GzEncoder;
use flotilla_image::{
    Digest, Image, ImageError, ImageRef, ImageStore, LoadedImage, PullOptions, PullProgress,
    RegistryFailure, load, load_with_name, pull,
};
use serde_json::json;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REGISTRY: &str = "/usr/bin/docker-registry";
const BUSYBOX: &str = "/bin/busybox";
const INSTALL: &str = "install docker-registry/skopeo (apt-get install docker-registry skopeo)";

/// Fails the test unless the registry, skopeo and a busybox are installed.
fn require_tools() {
    assert!(
        Path::new(REGISTRY).is_file(),
        "{REGISTRY} is missing: {INSTALL}"
    );
    let skopeo = Command::new("skopeo").arg("--version").output();
    assert!(
        matches!(&skopeo, Ok(out) if out.status.success()),
        "skopeo does not run ({skopeo:?}): {INSTALL}"
    );
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install busybox-static (apt-get install busybox-static)"
    );
}

/// This machine's architecture, with OCI's names.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A temporary directory where binaries may run (`/tmp` may be `noexec`).
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary directory")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local address").port()
}

/// The status code of `GET path` on 127.0.0.1:`port`, if anything answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// A `docker-registry` child process serving plain HTTP on 127.0.0.1, its storage in a
/// temporary directory. Killed by its pid on drop, also when a test panics.
struct Registry {
    child: Child,
    port: u16,
    storage: PathBuf,
    log: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let storage = dir.join("registry");
        fs::create_dir_all(&storage).expect("registry storage");
        let config = dir.join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .expect("registry config");
        let log = dir.join("registry.log");
        let out = File::create(&log).expect("registry log");
        let err = out.try_clone().expect("registry log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {REGISTRY} ({e}): {INSTALL}"));
        let mut registry = Registry {
            child,
            port,
            storage,
            log,
        };
        registry.wait_ready();
        registry
    }

    /// Polls `GET /v2/` for up to 10 s.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the registry") {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if http_status(self.port, "/v2/") == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer GET /v2/ on {} within 10 s:\n{}",
                self.host(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`, as references and insecure-registries spell it.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the registry keeps blob `d`'s content.
    fn blob_data(&self, d: &Digest) -> PathBuf {
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // `kill` sends SIGKILL to the child's pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OCI image layout built by [`oci_layout`].
struct Layout {
    dir: PathBuf,
    /// The busybox layer blob (tar+gzip).
    layer: Digest,
    /// The image config (the image id).
    config: Digest,
    /// This platform's image manifest, tagged `1`.
    manifest: Digest,
    /// An index of this platform's manifest and another platform's, tagged `multi`.
    index: Digest,
    /// The other platform's layer blob.
    other_layer: Digest,
}

fn put_blob(dir: &Path, data: &[u8]) -> (Digest, usize) {
    let d = Digest::of_bytes(data);
    fs::write(dir.join("blobs/sha256").join(d.hex()), data).expect("write blob");
    (d, data.len())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// A gzipped layer made by `build`, and its diff_id.
fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (Vec<u8>, Digest) {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let tar = b.into_inner().expect("tar");
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar).expect("gzip");
    (gz.finish().expect("gzip"), Digest::of_bytes(&tar))
}

/// Stores a one-layer image (config and manifest); returns the manifest's descriptor.
fn image(dir: &Path, arch: &str, layer: &[u8], diff_id: &Digest) -> (Digest, Digest, usize) {
    let (layer_d, layer_n) = put_blob(dir, layer);
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let (config_d, config_n) = put_blob(dir, config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_d, "size": config_n},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_d, "size": layer_n}],
    });
    let (manifest_d, manifest_n) = put_blob(dir, manifest.to_string().as_bytes());
    (config_d, manifest_d, manifest_n)
}

/// Writes an OCI image layout at `dir`: tag `1` is a one-layer image of the host's busybox
/// (`bin/busybox`, `bin/sh` → `busybox`) for this platform; tag `multi` an index of it and of
/// an image for another platform.
fn oci_layout(dir: &Path) -> Layout {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("layout directory");
    let busybox = fs::read(BUSYBOX).expect("read the host's busybox");
    let (gz, diff_id) = layer(|b| {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, "bin/", std::io::empty())
            .expect("tar dir");
        let mut h = header(tar::EntryType::Regular, 0o755, busybox.len() as u64);
        b.append_data(&mut h, "bin/busybox", &busybox[..])
            .expect("tar busybox");
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "bin/sh", "busybox")
            .expect("tar symlink");
    });
    let layer_d = Digest::of_bytes(&gz);
    let (config, manifest, manifest_n) = image(dir, host_arch(), &gz, &diff_id);

    let other_arch = if host_arch() == "s390x" {
        "amd64"
    } else {
        "s390x"
    };
    let (other_gz, other_diff) = layer(|b| {
        let mut h = header(tar::EntryType::Regular, 0o644, 5);
        b.append_data(&mut h, "other", &b"other"[..])
            .expect("tar file");
    });
    let other_layer = Digest::of_bytes(&other_gz);
    let (_, other_manifest, other_n) = image(dir, other_arch, &other_gz, &other_diff);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": other_manifest, "size": other_n,
             "platform": {"architecture": other_arch, "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": manifest, "size": manifest_n,
             "platform": {"architecture": host_arch(), "os": "linux"}},
        ],
    });
    let (index_d, index_n) = put_blob(dir, index.to_string().as_bytes());
    let top = json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": manifest, "size": manifest_n,
             "annotations": {"org.opencontainers.image.ref.name": "1"}},
            {"mediaType": "application/vnd.oci.image.index.v1+json",
             "digest": index_d, "size": index_n,
             "annotations": {"org.opencontainers.image.ref.name": "multi"}},
        ],
    });
    fs::write(dir.join("index.json"), top.to_string()).expect("index.json");
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    Layout {
        dir: dir.to_owned(),
        layer: layer_d,
        config,
        manifest,
        index: index_d,
        other_layer,
    }
}

impl Layout {
    /// The layout's image `tag`, as skopeo names it.
    fn source(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }
}

/// Runs `skopeo --insecure-policy ARGS` (no signature policy file needed), which must work.
fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo ({e}): {INSTALL}"));
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pushes the layout's image `tag` to `registry` as `repo_tag`, with skopeo's extra `flags`.
fn push(layout: &Layout, tag: &str, registry: &Registry, repo_tag: &str, flags: &[&str]) {
    let dest = format!("docker://{}/{repo_tag}", registry.host());
    let source = layout.source(tag);
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    args.extend_from_slice(flags);
    args.extend([source.as_str(), dest.as_str()]);
    skopeo(&args);
}

/// Pulls `reference` (HTTP to `insecure`) into `store`; returns the outcome and the progress.
async fn pull_from(
    store: &Arc<ImageStore>,
    reference: &str,
    insecure: &str,
) -> (Result<Image, ImageError>, Vec<PullProgress>) {
    let opts = PullOptions {
        insecure_registries: vec![insecure.to_owned()],
    };
    let reference = ImageRef::parse(reference).expect("reference");
    let mut events = Vec::new();
    let res = pull(store, &reference, &opts, &mut |p: PullProgress| {
        events.push(p)
    })
    .await;
    (res, events)
}

/// The image's top layer holds the host's busybox, which runs from there, and `bin/sh`.
fn assert_busybox_runs(store: &ImageStore, id: &Digest) {
    let lowers = store.rootfs_layers(id).expect("the image's layers");
    let busybox = lowers[0].join("bin/busybox");
    assert_eq!(
        fs::read(&busybox).expect("bin/busybox in the layer"),
        fs::read(BUSYBOX).expect("the host's busybox")
    );
    assert_eq!(
        fs::read_link(lowers[0].join("bin/sh")).expect("bin/sh in the layer"),
        Path::new("busybox")
    );
    let out = Command::new(&busybox)
        .args(["echo", "pulled"])
        .output()
        .expect("run the pulled busybox");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"pulled\n");
}

#[tokio::test]
async fn pull_verifies_reuses_blobs_and_names_failures() {
    require_tools();
    let dir = workdir();
    let layout = oci_layout(&dir.path().join("oci"));
    let registry = Registry::start(dir.path());
    let host = registry.host();
    push(&layout, "1", &registry, "test/busybox:1", &[]);
    push(
        &layout,
        "1",
        &registry,
        "test/busybox:v2s2",
        &["--format", "v2s2"],
    );
    let store = Arc::new(ImageStore::open(dir.path().join("store")).expect("open the store"));

    // OCI media types.
    let reference = format!("{host}/test/busybox:1");
    let (image, events) = pull_from(&store, &reference, &host).await;
    let image = image.expect("pull");
    assert_eq!(image.id, layout.config);
    assert_eq!(image.refs, vec![reference.clone()]);
    assert_eq!(image.manifest_digest.as_ref(), Some(&layout.manifest));
    assert!(
        matches!(events.first(), Some(PullProgress::Resolved { digest, layers: 1, .. })
            if *digest == layout.manifest),
        "{events:?}"
    );
    assert!(
        events.contains(&PullProgress::Downloaded {
            blob: layout.layer.clone()
        }),
        "{events:?}"
    );
    assert!(store.blobs().exists(&layout.layer));
    assert_busybox_runs(&store, &image.id);
    assert_eq!(store.inspect(&reference).expect("inspect").id, image.id);
    assert_eq!(
        fs::read_dir(store.root().join("tmp")).expect("tmp").count(),
        0,
        "downloads left behind"
    );

    // Again: nothing is downloaded.
    let (again, events) = pull_from(&store, &reference, &host).await;
    assert_eq!(again.expect("second pull").id, image.id);
    assert!(
        events.contains(&PullProgress::LayerExists {
            blob: layout.layer.clone()
        }),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PullProgress::Downloading { .. })),
        "{events:?}"
    );

    // Docker schema 2 media types: the same config and layer, another manifest.
    let v2s2 = format!("{host}/test/busybox:v2s2");
    let (image2, events) = pull_from(&store, &v2s2, &host).await;
    let image2 = image2.expect("pull a Docker schema 2 image");
    assert_eq!(image2.id, layout.config);
    assert!(image2.refs.contains(&v2s2) && image2.refs.contains(&reference));
    let manifest = image2.manifest_digest.expect("a manifest digest");
    let manifest = String::from_utf8(store.blobs().read(&manifest).expect("the manifest blob"))
        .expect("a JSON manifest");
    assert!(
        manifest.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{manifest}"
    );
    assert!(
        events.contains(&PullProgress::LayerExists {
            blob: layout.layer.clone()
        }),
        "{events:?}"
    );

    // Failures name the reference and the reason, and tag nothing.
    let before = store.list().expect("list").len();
    for missing in [
        format!("{host}/test/busybox:nope"),
        format!("{host}/test/nothing:1"),
    ] {
        let err = pull_from(&store, &missing, &host)
            .await
            .0
            .expect_err("a missing image");
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ImageError::Registry {
                    failure: RegistryFailure::NotFound | RegistryFailure::Denied,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains(&missing), "{msg}");
        assert!(
            msg.contains("manifest unknown") || msg.contains("repository does not exist"),
            "{msg}"
        );
    }
    let closed = format!("127.0.0.1:{}", free_port());
    let err = pull_from(&store, &format!("{closed}/test/busybox:1"), &closed)
        .await
        .0
        .expect_err("nothing listens");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ImageError::Registry {
                failure: RegistryFailure::Unreachable,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&closed) && msg.to_lowercase().contains("connection refused"),
        "{msg}"
    );
    assert_eq!(store.list().expect("list").len(), before);

    // A registry serving a layer that does not match its digest: refused, naming the layer;
    // nothing is stored.
    let data = registry.blob_data(&layout.layer);
    let mut bytes = fs::read(&data).expect("the registry's copy of the layer");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&data, &bytes).expect("corrupt the registry's copy");
    let fresh = Arc::new(ImageStore::open(dir.path().join("fresh")).expect("open a store"));
    let err = pull_from(&fresh, &reference, &host)
        .await
        .0
        .expect_err("a corrupt layer");
    let msg = err.to_string();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&format!("layer {}", layout.layer)) && msg.contains("refused"),
        "{msg}"
    );
    assert!(fresh.list().expect("list").is_empty());
    assert!(fresh.blobs().list().expect("blobs").is_empty());
    assert!(fresh.layers().list().expect("layers").is_empty());
    assert_eq!(
        fs::read_dir(fresh.root().join("tmp")).expect("tmp").count(),
        0,
        "downloads left behind"
    );
}

#[tokio::test]
async fn pull_resolves_a_multi_platform_index() {
    require_tools();
    let dir = workdir();
    let layout = oci_layout(&dir.path().join("oci"));
    let registry = Registry::start(dir.path());
    let host = registry.host();
    push(&layout, "multi", &registry, "test/multi:1", &["--all"]);
    let store = Arc::new(ImageStore::open(dir.path().join("store")).expect("open the store"));
    let (image, events) = pull_from(&store, &format!("{host}/test/multi:1"), &host).await;
    let image = image.expect("pull");
    assert_eq!(image.id, layout.config);
    assert_eq!(image.manifest_digest.as_ref(), Some(&layout.manifest));
    assert!(
        matches!(events.first(), Some(PullProgress::Resolved { digest, manifest, layers: 1 })
            if *digest == layout.index && *manifest == layout.manifest),
        "{events:?}"
    );
    assert_busybox_runs(&store, &image.id);
    assert!(
        !store.blobs().exists(&layout.other_layer),
        "the other platform's layer was fetched"
    );

    // By digest: the image manifest's. Docker records no tag for a pull by digest.
    let by_digest = format!("{host}/test/multi@{}", layout.manifest);
    let (image, _) = pull_from(&store, &by_digest, &host).await;
    assert_eq!(image.expect("pull by digest").id, layout.config);
    assert_eq!(
        store.inspect(&by_digest).expect("inspect").id,
        layout.config
    );
}

#[test]
fn load_archives_made_by_skopeo() {
    require_tools();
    let dir = workdir();
    let layout = oci_layout(&dir.path().join("oci"));
    let store = ImageStore::open(dir.path().join("store")).expect("open the store");

    let docker_tar = dir.path().join("docker.tar");
    skopeo(&[
        "copy",
        &layout.source("1"),
        &format!("docker-archive:{}:test/busybox:1", docker_tar.display()),
    ]);
    let loaded = load(&store, File::open(&docker_tar).expect("docker archive"))
        .expect("load a docker-archive");
    assert_eq!(
        loaded,
        vec![LoadedImage {
            id: layout.config.clone(),
            refs: vec!["docker.io/test/busybox:1".to_owned()],
        }]
    );
    assert_busybox_runs(&store, &layout.config);

    let oci_tar = dir.path().join("oci.tar");
    skopeo(&[
        "copy",
        &layout.source("1"),
        &format!("oci-archive:{}:1", oci_tar.display()),
    ]);
    let loaded = load_with_name(
        &store,
        File::open(&oci_tar).expect("oci archive"),
        Some("example.com/busybox"),
    )
    .expect("load an oci-archive");
    assert_eq!(
        loaded,
        vec![LoadedImage {
            id: layout.config.clone(),
            refs: vec!["example.com/busybox:1".to_owned()],
        }]
    );
    let image = store.inspect("example.com/busybox:1").expect("inspect");
    assert_eq!(image.manifest_digest.as_ref(), Some(&layout.manifest));
    assert_busybox_runs(&store, &image.id);
}
