//! The node-local `Images` gRPC service (CLI socket only): load, import, pull, list, inspect,
//! remove and prune, over the node's image store. Archives arrive streamed; they are spooled
//! to a file under the data directory, handed to the store on a blocking thread, then removed.
//! Pulls reach registries anonymously, over plain HTTP for the daemon's `insecure-registries`
//! and those the request adds.

use flotilla_image::{
    Image, ImageError, ImageRef, ImageStore, LoadedImage, PullOptions, PullProgress,
    RegistryFailure, Removed,
};
use flotilla_proto::pb;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// The service.
#[derive(Clone)]
pub struct ImagesApi {
    store: Arc<ImageStore>,
    spool: PathBuf,
    insecure_registries: Vec<String>,
    /// Whether a container of this node uses an image (`image rm` refuses, `prune` keeps it).
    in_use: InUse,
}

/// Tells whether an image is used by a container.
pub type InUse = Arc<dyn Fn(&flotilla_image::Digest) -> bool + Send + Sync>;

impl ImagesApi {
    /// Serves `store`, spooling uploads into `spool`; pulls from `insecure_registries`
    /// (`host[:port]`) use plain HTTP.
    pub fn new(
        store: Arc<ImageStore>,
        spool: PathBuf,
        insecure_registries: Vec<String>,
        in_use: InUse,
    ) -> Self {
        Self {
            store,
            spool,
            insecure_registries,
            in_use,
        }
    }
}

/// Maps an image-store error to the status a client sees.
fn status(e: ImageError) -> Status {
    let msg = e.to_string();
    match e {
        ImageError::NotFound(_) => Status::not_found(msg),
        ImageError::InUse { .. }
        | ImageError::MultipleRefs { .. }
        | ImageError::Ambiguous { .. } => Status::failed_precondition(msg),
        ImageError::Io { .. } | ImageError::Locked(_) => Status::internal(msg),
        ImageError::Registry { failure, .. } => match failure {
            RegistryFailure::NotFound | RegistryFailure::Denied => Status::not_found(msg),
            RegistryFailure::Unreachable => Status::unavailable(msg),
            _ => Status::invalid_argument(msg),
        },
        _ => Status::invalid_argument(msg),
    }
}

/// Writes the streamed chunks to a fresh file in `dir`; returns it and the first chunk's name.
async fn spool(
    mut stream: Streaming<pb::ImageChunk>,
    dir: &Path,
) -> Result<(PathBuf, String), Status> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Status::internal(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("upload-{:032x}", rand::random::<u128>()));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| Status::internal(format!("{}: {e}", path.display())))?;
    let mut name = String::new();
    let mut first = true;
    let result = async {
        while let Some(chunk) = stream.message().await? {
            if first {
                name = chunk.name;
                first = false;
            }
            file.write_all(&chunk.data)
                .map_err(|e| Status::internal(format!("spooling the upload: {e}")))?;
        }
        file.sync_all()
            .map_err(|e| Status::internal(format!("spooling the upload: {e}")))
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok((path, name))
}

/// Runs a blocking store operation on a spooled file, removing the file afterwards.
async fn with_spooled<T: Send + 'static>(
    path: PathBuf,
    op: impl FnOnce(std::fs::File) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(move || {
        let res = std::fs::File::open(&path)
            .map_err(|e| Status::internal(format!("{}: {e}", path.display())))
            .and_then(|file| op(file).map_err(status));
        let _ = std::fs::remove_file(&path);
        res
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(status)
}

fn loaded(images: Vec<LoadedImage>) -> pb::LoadImagesResponse {
    pb::LoadImagesResponse {
        images: images
            .into_iter()
            .map(|i| pb::LoadedImage {
                id: i.id.to_string(),
                refs: i.refs,
            })
            .collect(),
    }
}

fn removed(r: Removed) -> (Vec<String>, Vec<String>, u64) {
    (
        r.untagged,
        r.deleted.iter().map(ToString::to_string).collect(),
        r.space_reclaimed,
    )
}

fn image_json(i: &Image) -> Result<String, Status> {
    let v = serde_json::json!({
        "id": i.id.to_string(),
        "repo_tags": i.refs,
        "manifest_digest": i.manifest_digest.as_ref().map(ToString::to_string),
        "created": i.created,
        "size": i.size,
        "layers": i.layers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "config": i.config,
    });
    serde_json::to_string(&v).map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl pb::images_server::Images for ImagesApi {
    async fn load(
        &self,
        req: Request<Streaming<pb::ImageChunk>>,
    ) -> Result<Response<pb::LoadImagesResponse>, Status> {
        let (path, name) = spool(req.into_inner(), &self.spool).await?;
        let store = self.store.clone();
        let name = (!name.is_empty()).then_some(name);
        let images = with_spooled(path, move |f| {
            flotilla_image::load_with_name(&store, f, name.as_deref())
        })
        .await?;
        tracing::info!(images = images.len(), "images loaded");
        Ok(Response::new(loaded(images)))
    }

    async fn import(
        &self,
        req: Request<Streaming<pb::ImageChunk>>,
    ) -> Result<Response<pb::LoadImagesResponse>, Status> {
        let (path, name) = spool(req.into_inner(), &self.spool).await?;
        let reference = if name.is_empty() {
            None
        } else {
            match ImageRef::parse(&name) {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(Status::invalid_argument(format!(
                        "invalid NAME[:TAG] {name:?}: {e}"
                    )));
                }
            }
        };
        let store = self.store.clone();
        let image = with_spooled(path, move |f| {
            flotilla_image::import(&store, f, reference.as_ref())
        })
        .await?;
        Ok(Response::new(loaded(vec![image])))
    }

    async fn list(
        &self,
        _req: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        let store = self.store.clone();
        let images = blocking(move || store.list()).await?;
        let in_use = self.in_use.clone();
        Ok(Response::new(pb::ListImagesResponse {
            images: images
                .into_iter()
                .map(|i| pb::ImageSummary {
                    id: i.id.to_string(),
                    refs: i.refs,
                    size: i.size,
                    created: i.created.unwrap_or_default(),
                    in_use: in_use(&i.id),
                })
                .collect(),
        }))
    }

    async fn inspect(
        &self,
        req: Request<pb::InspectImageRequest>,
    ) -> Result<Response<pb::InspectImageResponse>, Status> {
        let store = self.store.clone();
        let reference = req.into_inner().reference;
        let image = blocking(move || store.inspect(&reference)).await?;
        Ok(Response::new(pb::InspectImageResponse {
            json: image_json(&image)?,
        }))
    }

    async fn remove(
        &self,
        req: Request<pb::RemoveImageRequest>,
    ) -> Result<Response<pb::RemoveImageResponse>, Status> {
        let store = self.store.clone();
        let r = req.into_inner();
        let in_use = self.in_use.clone();
        let out = blocking(move || store.remove(&r.reference, r.force, &|d| in_use(d))).await?;
        let (untagged, deleted, _) = removed(out);
        Ok(Response::new(pb::RemoveImageResponse { untagged, deleted }))
    }

    async fn prune(
        &self,
        req: Request<pb::PruneImagesRequest>,
    ) -> Result<Response<pb::PruneImagesResponse>, Status> {
        let store = self.store.clone();
        let all = req.into_inner().all;
        let in_use = self.in_use.clone();
        let out = blocking(move || store.prune(all, &|d| in_use(d))).await?;
        let (_, deleted, space_reclaimed) = removed(out);
        Ok(Response::new(pb::PruneImagesResponse {
            deleted,
            space_reclaimed,
        }))
    }

    async fn pull(
        &self,
        req: Request<pb::PullImageRequest>,
    ) -> Result<Response<pb::PullImageResponse>, Status> {
        let r = req.into_inner();
        let reference = ImageRef::parse(&r.reference).map_err(|e| {
            Status::invalid_argument(format!("invalid reference format {:?}: {e}", r.reference))
        })?;
        let mut opts = PullOptions {
            insecure_registries: self.insecure_registries.clone(),
        };
        opts.insecure_registries.extend(r.insecure_registries);
        let before = {
            let store = self.store.clone();
            let key = reference.to_string();
            blocking(move || Ok(store.resolve(&key).ok())).await?
        };
        let mut events = Vec::new();
        let image = flotilla_image::pull(&self.store, &reference, &opts, &mut |p: PullProgress| {
            events.push(p)
        })
        .await
        .map_err(status)?;
        let mut resp = pb::PullImageResponse {
            id: image.id.to_string(),
            reference: reference.to_string(),
            up_to_date: before.as_ref() == Some(&image.id),
            ..Default::default()
        };
        for e in events {
            match e {
                PullProgress::Resolved { digest, .. } => resp.digest = digest.to_string(),
                PullProgress::LayerExists { blob } => resp.layers.push(pb::PulledLayer {
                    digest: blob.to_string(),
                    downloaded: false,
                }),
                PullProgress::Downloaded { blob } => resp.layers.push(pb::PulledLayer {
                    digest: blob.to_string(),
                    downloaded: true,
                }),
                _ => {}
            }
        }
        tracing::info!(reference = %reference, id = %image.id, "image pulled");
        Ok(Response::new(resp))
    }
}
