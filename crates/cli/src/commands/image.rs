//! `flotilla image load|import|pull|ls|inspect|rm|prune`: the node's image store, through the
//! node-local `Images` service on the daemon's socket (which does the pulling).
//!
//! Archives (`load`, `import`) are streamed to the daemon in 1 MiB chunks by a reader task, so a
//! multi-gigabyte image never sits in memory; a failed read is reported as such rather than as
//! the truncated archive the daemon then sees. References are shown in Docker's familiar form
//! (`docker.io/library/busybox:latest` as `busybox:latest`).

use crate::commands::finish;
use crate::commands::service::ps::title_case;
use crate::connect;
use crate::error::CliError;
use crate::output::{self, ListStyle, Listing, OutputFormat, short_id};
use crate::units::format_decimal_bytes;
use flotilla_model::ImageRef;
use flotilla_model::image_ref::DEFAULT_TAG;
use flotilla_proto::pb;
use flotilla_proto::pb::images_client::ImagesClient;
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// How much of an archive goes in one `ImageChunk`.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Chunks read ahead of the call.
const CHUNKS_IN_FLIGHT: usize = 4;

/// What reading standard input is called in errors.
const STDIN: &str = "standard input";

/// Columns of `image ls`.
pub const LS_COLUMNS: [&str; 5] = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];

/// What `image ls` shows for a missing repository or tag.
const NONE: &str = "<none>";

/// `image prune`'s question without `-a`.
const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

/// `image prune -a`'s question.
const ALL_WARNING: &str = "WARNING! This will remove all images without at least one container \
                           associated to them.\nAre you sure you want to continue?";

/// Manage images.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Load an image from a tar archive or STDIN.
    Load(ImageLoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImageImportArgs),
    /// Download an image from a registry.
    Pull(ImagePullArgs),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ImageLsArgs),
    /// Display detailed information on one or more images.
    Inspect(ImageInspectArgs),
    /// Remove one or more images.
    #[command(visible_alias = "remove")]
    Rm(ImageRmArgs),
    /// Remove unused images.
    Prune(ImagePruneArgs),
}

/// Arguments of `image load`.
#[derive(Debug, clap::Args)]
pub struct ImageLoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Repository for images of an OCI archive whose annotations give only a tag.
    #[arg(long, value_name = "REPO")]
    pub name: Option<String>,
}

/// Arguments of `image import`.
#[derive(Debug, clap::Args)]
pub struct ImageImportArgs {
    /// The rootfs tarball; `-` reads STDIN.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The name to give the image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// Arguments of `image pull`.
#[derive(Debug, clap::Args)]
pub struct ImagePullArgs {
    /// A registry to reach over plain HTTP for this pull (repeatable), besides the daemon's
    /// insecure-registries.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to pull.
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub reference: String,
}

/// Arguments of `image ls`.
#[derive(Debug, clap::Args)]
pub struct ImageLsArgs {
    /// Show all images (the node keeps no intermediate images, so this lists the same).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: table (the default) or json.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Arguments of `image inspect`.
#[derive(Debug, clap::Args)]
pub struct ImageInspectArgs {
    /// Images, by reference, ID or ID prefix.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Arguments of `image rm`.
#[derive(Debug, clap::Args)]
pub struct ImageRmArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Images, by reference, ID or ID prefix.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Arguments of `image prune`.
#[derive(Debug, clap::Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Runs an `image` subcommand.
pub async fn run(cmd: ImageCommand, host: &str) -> Result<(), CliError> {
    match cmd {
        ImageCommand::Load(a) => load(a, host).await,
        ImageCommand::Import(a) => import(a, host).await,
        ImageCommand::Pull(a) => pull(a, host).await,
        ImageCommand::Ls(a) => ls(a, host).await,
        ImageCommand::Inspect(a) => inspect(a, host).await,
        ImageCommand::Rm(a) => rm(a, host).await,
        ImageCommand::Prune(a) => prune(a, host).await,
    }
}

async fn load(a: ImageLoadArgs, host: &str) -> Result<(), CliError> {
    let path = a.input.as_deref().unwrap_or("-");
    if path == "-" && io::stdin().is_terminal() {
        // Docker's refusal: nothing was piped in.
        return Err(CliError::Usage(
            "requested load from stdin, but stdin is empty".to_owned(),
        ));
    }
    let source = open_source(path).await?;
    let mut client = connect::images(host).await?;
    let resp = upload(
        &mut client,
        Upload::Load,
        source,
        a.name.unwrap_or_default(),
    )
    .await?;
    if !a.quiet {
        output::print(&loaded_lines(&resp))?;
    }
    Ok(())
}

async fn import(a: ImageImportArgs, host: &str) -> Result<(), CliError> {
    if a.file.starts_with("http://") || a.file.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "cannot import {}: importing from a URL is not supported; download it first",
            a.file
        )));
    }
    let source = open_source(&a.file).await?;
    let mut client = connect::images(host).await?;
    let resp = upload(
        &mut client,
        Upload::Import,
        source,
        a.reference.unwrap_or_default(),
    )
    .await?;
    let ids: String = resp.images.iter().map(|i| format!("{}\n", i.id)).collect();
    output::print(&ids)
}

async fn pull(a: ImagePullArgs, host: &str) -> Result<(), CliError> {
    // Refused here, before the wait: the daemon would refuse it too.
    let reference = ImageRef::parse(&a.reference)
        .map_err(|e| CliError::Usage(format!("invalid reference format {:?}: {e}", a.reference)))?;
    if !a.quiet {
        let defaulted = reference.digest.is_none()
            && reference.tag.as_deref() == Some(DEFAULT_TAG)
            && !a.reference.ends_with(&format!(":{DEFAULT_TAG}"));
        if defaulted {
            output::print(&format!("Using default tag: {DEFAULT_TAG}\n"))?;
        }
        output::print(&pulling_line(&reference))?;
    }
    let mut client = connect::images(host).await?;
    let resp = client
        .pull(pb::PullImageRequest {
            reference: reference.to_string(),
            insecure_registries: a.insecure_registries,
        })
        .await?
        .into_inner();
    if a.quiet {
        output::print(&format!("{}\n", resp.reference))
    } else {
        output::print(&pulled_lines(&resp))
    }
}

async fn ls(a: ImageLsArgs, host: &str) -> Result<(), CliError> {
    let mut client = connect::images(host).await?;
    let images = client
        .list(pb::ListImagesRequest {})
        .await?
        .into_inner()
        .images;
    let listing = ls_listing(images, a.no_trunc, output::now_nanos());
    if a.quiet {
        quiet_ids(&listing).print(ListStyle::Quiet)
    } else {
        listing.print(ListStyle::from_flags(false, a.format))
    }
}

async fn inspect(a: ImageInspectArgs, host: &str) -> Result<(), CliError> {
    let mut client = connect::images(host).await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for reference in &a.images {
        let resp = client
            .inspect(pb::InspectImageRequest {
                reference: reference.clone(),
            })
            .await;
        match resp {
            Ok(r) => found.push(serde_json::from_str::<serde_json::Value>(
                &r.into_inner().json,
            )?),
            Err(status) => errors.push(CliError::from(status)),
        }
    }
    if !found.is_empty() || errors.is_empty() {
        output::print(&output::to_json(&found)?)?;
    }
    finish(errors)
}

async fn rm(a: ImageRmArgs, host: &str) -> Result<(), CliError> {
    let mut client = connect::images(host).await?;
    let mut errors = Vec::new();
    for reference in &a.images {
        let resp = client
            .remove(pb::RemoveImageRequest {
                reference: reference.clone(),
                force: a.force,
            })
            .await;
        match resp {
            Ok(r) => output::print(&removed_lines(&r.into_inner()))?,
            Err(status) => errors.push(CliError::from(status)),
        }
    }
    finish(errors)
}

async fn prune(a: ImagePruneArgs, host: &str) -> Result<(), CliError> {
    if !a.force {
        let warning = if a.all { ALL_WARNING } else { DANGLING_WARNING };
        if !confirm(warning).await? {
            return Ok(());
        }
    }
    let mut client = connect::images(host).await?;
    let resp = client
        .prune(pb::PruneImagesRequest { all: a.all })
        .await?
        .into_inner();
    output::print(&prune_report(&resp))
}

/// Asks `question` on standard output, Docker style (`… [y/N] `), and reads the answer from
/// standard input.
pub(crate) async fn confirm(question: &str) -> Result<bool, CliError> {
    {
        let mut out = io::stdout().lock();
        write!(out, "{question} [y/N] ")?;
        out.flush()?;
    }
    let stdin_error = |source: io::Error| CliError::Input {
        path: STDIN.to_owned(),
        source,
    };
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| stdin_error(io::Error::other(e)))?
    .map_err(stdin_error)?;
    Ok(confirmed(&answer))
}

/// Whether a prompt's answer is yes: `y` or `Y`; anything else, or nothing (EOF), is no.
pub fn confirmed(answer: &str) -> bool {
    answer.trim().eq_ignore_ascii_case("y")
}

/// An archive to stream: a file or standard input, and what to call it in errors.
struct Source {
    label: String,
    reader: Box<dyn AsyncRead + Unpin + Send>,
}

/// Opens `path` for streaming; `-` is standard input.
async fn open_source(path: &str) -> Result<Source, CliError> {
    if path == "-" {
        return Ok(Source {
            label: STDIN.to_owned(),
            reader: Box::new(tokio::io::stdin()),
        });
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| CliError::Input {
            path: path.to_owned(),
            source,
        })?;
    Ok(Source {
        label: path.to_owned(),
        reader: Box::new(file),
    })
}

/// The client-streaming calls that take an archive.
#[derive(Debug, Clone, Copy)]
enum Upload {
    Load,
    Import,
}

/// Streams `source` to `Images.Load` or `Images.Import`, `name` in the first chunk. A read
/// failure wins over the call's error (the daemon then only saw a truncated archive).
async fn upload(
    client: &mut ImagesClient<Channel>,
    call: Upload,
    source: Source,
    name: String,
) -> Result<pb::LoadImagesResponse, CliError> {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let read_error: Arc<Mutex<Option<io::Error>>> = Arc::default();
    let reader = {
        let read_error = Arc::clone(&read_error);
        let Source { reader, .. } = source;
        tokio::spawn(async move {
            if let Err(e) = pump(reader, name, &tx).await
                && let Ok(mut slot) = read_error.lock()
            {
                *slot = Some(e);
            }
            // The stream ends only once the error is recorded.
            drop(tx);
        })
    };
    let chunks = ReceiverStream::new(rx);
    let result = match call {
        Upload::Load => client.load(chunks).await,
        Upload::Import => client.import(chunks).await,
    };
    // The call is over: whatever is left unread will not be sent.
    reader.abort();
    let failed_read = read_error.lock().ok().and_then(|mut slot| slot.take());
    if let Some(e) = failed_read {
        return Err(CliError::Input {
            path: source.label,
            source: e,
        });
    }
    Ok(result?.into_inner())
}

/// Reads `reader` to its end into `tx`, [`CHUNK_SIZE`] bytes a chunk (the last may be shorter),
/// `name` in the first. An empty input still sends one chunk, so the name arrives. Stops quietly
/// if the call has ended and nobody receives.
async fn pump(
    mut reader: Box<dyn AsyncRead + Unpin + Send>,
    name: String,
    tx: &mpsc::Sender<pb::ImageChunk>,
) -> io::Result<()> {
    let mut name = Some(name);
    loop {
        let mut data = vec![0u8; CHUNK_SIZE];
        let mut filled = 0;
        while filled < CHUNK_SIZE {
            let n = reader.read(&mut data[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        data.truncate(filled);
        if data.is_empty() && name.is_none() {
            return Ok(());
        }
        let last = filled < CHUNK_SIZE;
        let chunk = pb::ImageChunk {
            data,
            name: name.take().unwrap_or_default(),
        };
        if tx.send(chunk).await.is_err() || last {
            return Ok(());
        }
    }
}

/// What `image load` prints: `Loaded image: REF` per reference, or `Loaded image ID: sha256:…`
/// for an image that came without one.
pub fn loaded_lines(resp: &pb::LoadImagesResponse) -> String {
    let mut out = String::new();
    for image in &resp.images {
        if image.refs.is_empty() {
            out.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        for r in &image.refs {
            out.push_str(&format!("Loaded image: {}\n", familiar_ref(r)));
        }
    }
    out
}

/// The first line `image pull` prints: `TAG: Pulling from REPOSITORY` (the digest instead of
/// the tag for a pull by digest; the repository without its registry).
pub fn pulling_line(reference: &ImageRef) -> String {
    let what = reference
        .digest
        .as_deref()
        .or(reference.tag.as_deref())
        .unwrap_or_default();
    format!("{what}: Pulling from {}\n", reference.repository)
}

/// What `image pull` prints once the pull is done: a line per layer it downloaded or already
/// had (the blob's 12-digit short id), the digest, the status and the reference, as Docker
/// does.
pub fn pulled_lines(resp: &pb::PullImageResponse) -> String {
    let mut out = String::new();
    if !resp.up_to_date {
        for l in &resp.layers {
            let id = image_id_cell(&l.digest, false);
            let state = if l.downloaded {
                "Pull complete"
            } else {
                "Already exists"
            };
            out.push_str(&format!("{id}: {state}\n"));
        }
    }
    let reference = familiar_ref(&resp.reference);
    let status = if resp.up_to_date {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    out.push_str(&format!(
        "Digest: {}\nStatus: {status} {reference}\n{}\n",
        resp.digest, resp.reference
    ));
    out
}

/// What `image rm` prints for one image: `Untagged: REF` then `Deleted: sha256:…` lines.
pub fn removed_lines(resp: &pb::RemoveImageResponse) -> String {
    let untagged = resp
        .untagged
        .iter()
        .map(|r| format!("Untagged: {}\n", familiar_ref(r)));
    let deleted = resp.deleted.iter().map(|id| format!("Deleted: {id}\n"));
    untagged.chain(deleted).collect()
}

/// What `image prune` prints: the deleted images, if any, then the space reclaimed (Docker's
/// four-digit `units.HumanSize`).
pub fn prune_report(resp: &pb::PruneImagesResponse) -> String {
    let mut out = String::new();
    if !resp.deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for id in &resp.deleted {
            out.push_str(&format!("deleted: {id}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        format_decimal_bytes(resp.space_reclaimed, 4)
    ));
    out
}

/// The `image ls` rows, newest image first: one per reference, or one `<none>` `<none>` row for
/// an untagged image. `now_nanos` is the current time, for "2 hours ago".
pub fn ls_listing(images: Vec<pb::ImageSummary>, no_trunc: bool, now_nanos: u64) -> Listing {
    let mut dated: Vec<(Option<u64>, pb::ImageSummary)> = images
        .into_iter()
        .map(|i| (output::parse_rfc3339(&i.created).map(|t| t.as_nanos()), i))
        .collect();
    dated.sort_by(|(a_at, a), (b_at, b)| (Reverse(a_at), &a.id).cmp(&(Reverse(b_at), &b.id)));
    let mut listing = Listing::new(&LS_COLUMNS);
    for (created_at, image) in dated {
        let id = image_id_cell(&image.id, no_trunc);
        let created = created_at.map_or_else(
            || "N/A".to_owned(),
            |at| {
                format!(
                    "{} ago",
                    title_case(&output::human_duration(now_nanos.saturating_sub(at)))
                )
            },
        );
        let size = format_decimal_bytes(image.size, 3);
        let names: Vec<(String, String)> = if image.refs.is_empty() {
            vec![(NONE.to_owned(), NONE.to_owned())]
        } else {
            image.refs.iter().map(|r| split_ref(r)).collect()
        };
        for (repository, tag) in names {
            listing.rows.push(vec![
                repository,
                tag,
                id.clone(),
                created.clone(),
                size.clone(),
            ]);
        }
    }
    listing
}

/// `image ls -q`: the listing's image ids, each once, in order.
pub fn quiet_ids(listing: &Listing) -> Listing {
    let column = LS_COLUMNS
        .iter()
        .position(|c| *c == "IMAGE ID")
        .unwrap_or(2);
    let mut seen = BTreeSet::new();
    let mut ids = Listing::new(&["IMAGE ID"]);
    for id in listing.rows.iter().filter_map(|row| row.get(column)) {
        if seen.insert(id.clone()) {
            ids.rows.push(vec![id.clone()]);
        }
    }
    ids
}

/// An image id as tables show it: the first 12 hex digits after the algorithm
/// (`sha256:0123456789ab…` as `0123456789ab`), or in full with `--no-trunc`.
pub fn image_id_cell(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        return id.to_owned();
    }
    short_id(id.split_once(':').map_or(id, |(_, hex)| hex))
}

/// A reference split into the familiar repository and the tag (`<none>` without one):
/// `docker.io/library/busybox:latest` → (`busybox`, `latest`); a digest is dropped.
pub fn split_ref(reference: &str) -> (String, String) {
    let (name, tag, _) = ref_parts(reference);
    (
        familiar_name(name),
        tag.map_or_else(|| NONE.to_owned(), str::to_owned),
    )
}

/// A reference in Docker's familiar form: `docker.io/library/busybox:latest` →
/// `busybox:latest`, `docker.io/user/app:1` → `user/app:1`; other registries are kept.
pub fn familiar_ref(reference: &str) -> String {
    let (name, tag, digest) = ref_parts(reference);
    let mut out = familiar_name(name);
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    }
    out
}

/// A repository name in Docker's familiar form: `docker.io/library/busybox` → `busybox`,
/// `docker.io/user/app` → `user/app`, `ghcr.io/org/app` unchanged.
pub fn familiar_name(name: &str) -> String {
    let Some(path) = name.strip_prefix("docker.io/") else {
        return name.to_owned();
    };
    match path.strip_prefix("library/") {
        Some(official) if !official.contains('/') => official.to_owned(),
        _ => path.to_owned(),
    }
}

/// (name, tag, digest) of `name[:tag][@digest]`; a `:` followed by a `/` belongs to a registry
/// port, not a tag.
fn ref_parts(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..]), digest),
        _ => (rest, None, digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::test_cli::parse;

    const SECOND: u64 = 1_000_000_000;
    /// 2023-11-14T22:13:20Z.
    const NOW: u64 = 1_700_000_000 * SECOND;

    fn image_cmd(args: &[&str]) -> ImageCommand {
        let mut full = vec!["image"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Image(c)) => c,
            other => panic!("expected an image command, got {other:?}"),
        }
    }

    fn id(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn summary(id: String, refs: &[&str], size: u64, created: &str) -> pb::ImageSummary {
        pb::ImageSummary {
            id,
            refs: refs.iter().map(|r| (*r).to_owned()).collect(),
            size,
            created: created.to_owned(),
            in_use: false,
        }
    }

    fn sample() -> Listing {
        ls_listing(
            vec![
                summary(id('a'), &[], 999_999, "2023-11-14T20:13:20Z"),
                summary(
                    id('b'),
                    &[
                        "docker.io/library/busybox:latest",
                        "docker.io/user/app:1.0",
                        "localhost:5000/tools/app:dev",
                    ],
                    4_258_000,
                    "2023-11-14T22:12:10Z",
                ),
                summary(id('c'), &["ghcr.io/org/app@sha256:feed"], 1_000, ""),
            ],
            false,
            NOW,
        )
    }

    #[test]
    fn load_parses() {
        let ImageCommand::Load(a) = image_cmd(&["load", "-i", "img.tar", "-q"]) else {
            panic!("expected image load");
        };
        assert_eq!(a.input.as_deref(), Some("img.tar"));
        assert!(a.quiet);
        assert_eq!(a.name, None);

        let ImageCommand::Load(a) = image_cmd(&["load", "--input", "oci.tar", "--name", "app"])
        else {
            panic!("expected image load");
        };
        assert_eq!(a.input.as_deref(), Some("oci.tar"));
        assert!(!a.quiet);
        assert_eq!(a.name.as_deref(), Some("app"));

        let ImageCommand::Load(a) = image_cmd(&["load"]) else {
            panic!("expected image load");
        };
        assert_eq!(a.input, None);
    }

    #[test]
    fn import_parses() {
        let ImageCommand::Import(a) = image_cmd(&["import", "rootfs.tar", "app:1"]) else {
            panic!("expected image import");
        };
        assert_eq!(a.file, "rootfs.tar");
        assert_eq!(a.reference.as_deref(), Some("app:1"));

        let ImageCommand::Import(a) = image_cmd(&["import", "-"]) else {
            panic!("expected image import");
        };
        assert_eq!(a.file, "-");
        assert_eq!(a.reference, None);

        assert!(parse(&["image", "import"]).is_err());
    }

    #[test]
    fn pull_parses() {
        let ImageCommand::Pull(a) = image_cmd(&[
            "pull",
            "--insecure-registry",
            "127.0.0.1:5000",
            "-q",
            "127.0.0.1:5000/test/busybox:1",
        ]) else {
            panic!("expected image pull");
        };
        assert_eq!(a.insecure_registries, vec!["127.0.0.1:5000"]);
        assert!(a.quiet);
        assert_eq!(a.reference, "127.0.0.1:5000/test/busybox:1");
        let ImageCommand::Pull(a) = image_cmd(&["pull", "busybox"]) else {
            panic!("expected image pull");
        };
        assert!(a.insecure_registries.is_empty() && !a.quiet);
        assert!(parse(&["image", "pull"]).is_err());
    }

    #[test]
    fn pull_output_reads_like_docker() {
        let r = ImageRef::parse("busybox").expect("valid");
        assert_eq!(pulling_line(&r), "latest: Pulling from library/busybox\n");
        let r = ImageRef::parse(&format!("localhost:5000/team/app@{}", id('d'))).expect("valid");
        assert_eq!(
            pulling_line(&r),
            format!("{}: Pulling from team/app\n", id('d'))
        );
        let mut resp = pb::PullImageResponse {
            id: id('a'),
            reference: "docker.io/library/busybox:latest".into(),
            digest: id('b'),
            layers: vec![
                pb::PulledLayer {
                    digest: id('c'),
                    downloaded: false,
                },
                pb::PulledLayer {
                    digest: id('e'),
                    downloaded: true,
                },
            ],
            up_to_date: false,
        };
        assert_eq!(
            pulled_lines(&resp),
            format!(
                "cccccccccccc: Already exists\neeeeeeeeeeee: Pull complete\nDigest: {}\n\
                 Status: Downloaded newer image for busybox:latest\n\
                 docker.io/library/busybox:latest\n",
                id('b')
            )
        );
        resp.up_to_date = true;
        assert_eq!(
            pulled_lines(&resp),
            format!(
                "Digest: {}\nStatus: Image is up to date for busybox:latest\n\
                 docker.io/library/busybox:latest\n",
                id('b')
            )
        );
    }

    #[test]
    fn ls_parses() {
        let ImageCommand::Ls(a) = image_cmd(&["ls", "-a", "-q", "--no-trunc"]) else {
            panic!("expected image ls");
        };
        assert!(a.all && a.quiet && a.no_trunc);
        assert_eq!(a.format, None);

        let ImageCommand::Ls(a) = image_cmd(&["list", "--format", "json"]) else {
            panic!("expected image ls");
        };
        assert!(!a.all && !a.quiet && !a.no_trunc);
        assert_eq!(a.format, Some(OutputFormat::Json));

        assert!(parse(&["image", "ls", "--format", "yaml"]).is_err());
    }

    #[test]
    fn inspect_rm_and_prune_parse() {
        let ImageCommand::Inspect(a) = image_cmd(&["inspect", "busybox", "sha256:ab"]) else {
            panic!("expected image inspect");
        };
        assert_eq!(a.images, vec!["busybox", "sha256:ab"]);
        assert!(parse(&["image", "inspect"]).is_err());

        let ImageCommand::Rm(a) = image_cmd(&["rm", "-f", "busybox", "app:1"]) else {
            panic!("expected image rm");
        };
        assert!(a.force);
        assert_eq!(a.images, vec!["busybox", "app:1"]);
        let ImageCommand::Rm(a) = image_cmd(&["remove", "busybox"]) else {
            panic!("expected image rm");
        };
        assert!(!a.force);
        assert!(parse(&["image", "rm", "-f"]).is_err());

        let ImageCommand::Prune(a) = image_cmd(&["prune", "-a", "-f"]) else {
            panic!("expected image prune");
        };
        assert!(a.all && a.force);
        let ImageCommand::Prune(a) = image_cmd(&["prune"]) else {
            panic!("expected image prune");
        };
        assert!(!a.all && !a.force);
    }

    #[test]
    fn ls_rows() {
        let rows = sample().rows;
        assert_eq!(
            rows,
            vec![
                vec![
                    "busybox",
                    "latest",
                    "bbbbbbbbbbbb",
                    "About a minute ago",
                    "4.26MB"
                ],
                vec![
                    "user/app",
                    "1.0",
                    "bbbbbbbbbbbb",
                    "About a minute ago",
                    "4.26MB"
                ],
                vec![
                    "localhost:5000/tools/app",
                    "dev",
                    "bbbbbbbbbbbb",
                    "About a minute ago",
                    "4.26MB"
                ],
                vec!["<none>", "<none>", "aaaaaaaaaaaa", "2 hours ago", "1MB"],
                vec!["ghcr.io/org/app", "<none>", "cccccccccccc", "N/A", "1kB"],
            ]
        );
    }

    #[test]
    fn ls_no_trunc_and_quiet() {
        let full = ls_listing(
            vec![summary(id('a'), &[], 1, "2023-11-14T22:13:20Z")],
            true,
            NOW,
        );
        assert_eq!(full.rows[0][2], id('a'));
        assert_eq!(full.rows[0][3], "Less than a second ago");
        assert_eq!(full.rows[0][4], "1B");

        let text = quiet_ids(&sample())
            .render(ListStyle::Quiet)
            .expect("renders");
        assert_eq!(text, "bbbbbbbbbbbb\naaaaaaaaaaaa\ncccccccccccc\n");
    }

    #[test]
    fn ls_json_keys() {
        let text = sample().render(ListStyle::Json).expect("renders");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let arr = v.as_array().expect("an array");
        assert_eq!(arr.len(), 5);
        let mut keys: Vec<&str> = arr[0]
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec!["created", "image_id", "repository", "size", "tag"]
        );
        assert_eq!(arr[0]["repository"], "busybox");
        assert_eq!(arr[3]["tag"], "<none>");
        assert_eq!(arr[3]["image_id"], "aaaaaaaaaaaa");
    }

    #[test]
    fn references_read_like_docker() {
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/user/app"), "user/app");
        assert_eq!(familiar_name("docker.io/library/a/b"), "library/a/b");
        assert_eq!(familiar_name("quay.io/library/x"), "quay.io/library/x");
        assert_eq!(
            familiar_ref("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(
            familiar_ref("localhost:5000/app@sha256:00"),
            "localhost:5000/app@sha256:00"
        );
        assert_eq!(
            split_ref("localhost:5000/app"),
            ("localhost:5000/app".to_owned(), "<none>".to_owned())
        );
        assert_eq!(image_id_cell(&id('f'), false), "ffffffffffff");
        assert_eq!(image_id_cell("abc", false), "abc");
    }

    #[test]
    fn command_output_reads_like_docker() {
        let loaded = pb::LoadImagesResponse {
            images: vec![
                pb::LoadedImage {
                    id: id('a'),
                    refs: vec![
                        "docker.io/library/busybox:latest".into(),
                        "ghcr.io/o/x:1".into(),
                    ],
                },
                pb::LoadedImage {
                    id: id('b'),
                    refs: vec![],
                },
            ],
        };
        assert_eq!(
            loaded_lines(&loaded),
            format!(
                "Loaded image: busybox:latest\nLoaded image: ghcr.io/o/x:1\n\
                 Loaded image ID: {}\n",
                id('b')
            )
        );

        let removed = pb::RemoveImageResponse {
            untagged: vec!["docker.io/library/busybox:latest".into()],
            deleted: vec![id('a')],
        };
        assert_eq!(
            removed_lines(&removed),
            format!("Untagged: busybox:latest\nDeleted: {}\n", id('a'))
        );

        let pruned = pb::PruneImagesResponse {
            deleted: vec![id('a'), id('b')],
            space_reclaimed: 12_345_678,
        };
        assert_eq!(
            prune_report(&pruned),
            format!(
                "Deleted Images:\ndeleted: {}\ndeleted: {}\n\nTotal reclaimed space: 12.35MB\n",
                id('a'),
                id('b')
            )
        );
        assert_eq!(
            prune_report(&pb::PruneImagesResponse::default()),
            "Total reclaimed space: 0B\n"
        );
    }

    #[test]
    fn prompt_answers() {
        for yes in ["y\n", "Y\n", " y \r\n"] {
            assert!(confirmed(yes), "{yes:?}");
        }
        for no in ["", "\n", "n\n", "yes\n", "N"] {
            assert!(!confirmed(no), "{no:?}");
        }
    }

    async fn pumped(data: Vec<u8>, name: &str) -> Vec<pb::ImageChunk> {
        let (tx, mut rx) = mpsc::channel(16);
        pump(Box::new(io::Cursor::new(data)), name.to_owned(), &tx)
            .await
            .expect("reads");
        drop(tx);
        let mut chunks = Vec::new();
        while let Some(c) = rx.recv().await {
            chunks.push(c);
        }
        chunks
    }

    #[tokio::test]
    async fn archives_stream_in_mebibyte_chunks_named_first() {
        let chunks = pumped(vec![7u8; 2 * CHUNK_SIZE + 10], "app").await;
        let sizes: Vec<usize> = chunks.iter().map(|c| c.data.len()).collect();
        assert_eq!(sizes, vec![CHUNK_SIZE, CHUNK_SIZE, 10]);
        let names: Vec<&str> = chunks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["app", "", ""]);

        let exact = pumped(vec![1u8; CHUNK_SIZE], "").await;
        assert_eq!(exact.len(), 1);
        assert_eq!(exact[0].data.len(), CHUNK_SIZE);

        let empty = pumped(Vec::new(), "app:1").await;
        assert_eq!(empty.len(), 1);
        assert!(empty[0].data.is_empty());
        assert_eq!(empty[0].name, "app:1");
    }
}
