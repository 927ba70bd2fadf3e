//! Control API behaviour on a `MemStore`: bad input is refused with the field named and writes
//! nothing; stale versions conflict; rollback restores the previous spec.

use flotilla_controlapi::ControlApi;
use flotilla_model::{ContainerSpec, Kind, ServiceMode, ServiceSpec, TaskSpec};
use flotilla_proto::pb;
use flotilla_proto::pb::control_server::Control;
use flotilla_state::{MemStore, Store};
use tonic::{Code, Request};

fn spec(name: &str, image: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        task_template: TaskSpec {
            container_spec: ContainerSpec {
                image: image.into(),
                ..Default::default()
            },
            ..Default::default()
        },
        mode: ServiceMode::Replicated { replicas: 2 },
        ..Default::default()
    }
}

fn api() -> (ControlApi<MemStore>, MemStore) {
    let store = MemStore::new();
    (ControlApi::with_store(store.clone()), store)
}

async fn create(api: &ControlApi<MemStore>, s: ServiceSpec) -> Result<pb::Service, tonic::Status> {
    api.create_service(Request::new(pb::CreateServiceRequest {
        spec: Some(s.into()),
    }))
    .await
    .map(tonic::Response::into_inner)
}

fn services(store: &MemStore) -> usize {
    store.view(|t| t.count(Kind::Service))
}

#[tokio::test]
async fn bad_specs_name_the_field_and_write_nothing() {
    let (api, store) = api();
    let mut cases: Vec<(ServiceSpec, &str)> = vec![
        (spec("", "busybox"), "spec.name"),
        (
            spec("web", "Not/An:Image:"),
            "spec.task_template.container_spec.image",
        ),
        (spec("web", ""), "spec.task_template.container_spec.image"),
    ];
    let mut s = spec("web", "busybox");
    s.mode = ServiceMode::Replicated {
        replicas: 1_000_000,
    };
    cases.push((s, "spec.mode.replicated.replicas"));
    let mut s = spec("web", "busybox");
    s.task_template.container_spec.env = vec!["OK=1".into(), "=bad".into()];
    cases.push((s, "spec.task_template.container_spec.env[1]"));
    let mut s = spec("web", "busybox");
    s.task_template.placement.constraints = vec!["node.shoe==red".into()];
    cases.push((s, "spec.task_template.placement.constraints[0]"));
    for (s, field) in cases {
        let err = create(&api, s).await.expect_err("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains(field),
            "{:?} should name {field}",
            err.message()
        );
    }
    assert_eq!(services(&store), 0, "nothing is written");
    // A missing spec is a wire error that names the field too.
    let err = api
        .create_service(Request::new(pb::CreateServiceRequest { spec: None }))
        .await
        .expect_err("refused");
    assert!(err.message().contains("spec"), "{}", err.message());
}

#[tokio::test]
async fn duplicate_names_are_refused() {
    let (api, store) = api();
    create(&api, spec("web", "busybox")).await.expect("first");
    let err = create(&api, spec("web", "busybox"))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(services(&store), 1);
}

#[tokio::test]
async fn stale_update_conflicts_and_leaves_the_service_as_it_was() {
    let (api, _store) = api();
    let svc = create(&api, spec("web", "busybox:1"))
        .await
        .expect("create");
    let v1 = svc.meta.as_ref().map(|m| m.version).expect("meta");
    let update = |image: &str, version: u64| pb::UpdateServiceRequest {
        service_ref: "web".into(),
        version,
        spec: Some(spec("web", image).into()),
        rollback: false,
    };
    let after = api
        .update_service(Request::new(update("busybox:2", v1)))
        .await
        .expect("update")
        .into_inner();
    let err = api
        .update_service(Request::new(update("busybox:3", v1)))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("out of sequence"),
        "{}",
        err.message()
    );
    let now = api
        .get_service(Request::new(pb::GetServiceRequest {
            service_ref: "web".into(),
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(now, after, "the refused update changed nothing");
    // An invalid update is refused before anything is written.
    let v2 = now.meta.as_ref().map(|m| m.version).expect("meta");
    let err = api
        .update_service(Request::new(update("", v2)))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    // Rollback restores the previous spec.
    let back = api
        .update_service(Request::new(pb::UpdateServiceRequest {
            service_ref: "web".into(),
            version: v2,
            spec: None,
            rollback: true,
        }))
        .await
        .expect("rollback")
        .into_inner();
    let image = back
        .spec
        .and_then(|s| s.task_template)
        .and_then(|t| t.container_spec)
        .map(|c| c.image);
    assert_eq!(image.as_deref(), Some("busybox:1"));
}

#[tokio::test]
async fn rename_and_mode_change_are_refused() {
    let (api, _store) = api();
    let svc = create(&api, spec("web", "busybox")).await.expect("create");
    let v = svc.meta.as_ref().map(|m| m.version).expect("meta");
    let err = api
        .update_service(Request::new(pb::UpdateServiceRequest {
            service_ref: "web".into(),
            version: v,
            spec: Some(spec("api", "busybox").into()),
            rollback: false,
        }))
        .await
        .expect_err("rename");
    assert!(err.message().contains("spec.name"), "{}", err.message());
    let mut global = spec("web", "busybox");
    global.mode = ServiceMode::Global;
    let err = api
        .update_service(Request::new(pb::UpdateServiceRequest {
            service_ref: "web".into(),
            version: v,
            spec: Some(global.into()),
            rollback: false,
        }))
        .await
        .expect_err("mode change");
    assert!(err.message().contains("spec.mode"), "{}", err.message());
}

#[tokio::test]
async fn no_swarm_means_a_clear_error() {
    let api: ControlApi<MemStore> = ControlApi::new(Default::default());
    let err = api
        .list_services(Request::new(pb::ListServicesRequest {}))
        .await
        .expect_err("inactive");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("swarm init"), "{}", err.message());
}
