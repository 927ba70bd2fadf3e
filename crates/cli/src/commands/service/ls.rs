//! `flotilla service ls`: ID, NAME, MODE, REPLICAS, IMAGE, PORTS.

use crate::connect;
use crate::error::CliError;
use crate::output::{ListStyle, Listing, OutputFormat, short_id};
use flotilla_model::{PortConfig, Service, ServiceMode};
use flotilla_proto::pb;
use std::collections::BTreeMap;

/// Arguments of `service ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output: table (the default) or json.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Columns of `service ls`.
pub const LS_COLUMNS: [&str; 6] = ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"];

/// Runs `service ls`.
pub async fn run(a: &LsArgs, host: &str) -> Result<(), CliError> {
    let style = ListStyle::from_flags(a.quiet, a.format);
    let mut control = connect::control(host).await?;
    let resp = control
        .list_services(pb::ListServicesRequest {})
        .await?
        .into_inner();
    let services = resp
        .services
        .into_iter()
        .map(Service::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    ls_listing(services, &resp.running_tasks).print(style)
}

/// The `service ls` rows, sorted by name; `running` is the running task count by service id.
pub fn ls_listing(mut services: Vec<Service>, running: &BTreeMap<String, u64>) -> Listing {
    services.sort_by(|a, b| (&a.spec.name, &a.id).cmp(&(&b.spec.name, &b.id)));
    let mut listing = Listing::new(&LS_COLUMNS);
    for s in services {
        let running = running.get(s.id.as_str()).copied().unwrap_or(0);
        listing.rows.push(vec![
            short_id(s.id.as_str()),
            s.spec.name.clone(),
            s.spec.mode.name().to_owned(),
            replicas_cell(s.spec.mode, running),
            image_cell(&s.spec.task_template.container_spec.image),
            ports_cell(&s.spec.endpoint_spec.ports),
        ]);
    }
    listing
}

/// `running/desired`. The desired count of global services is not known to the client until
/// the orchestrator reports it, so it shows as 0.
pub fn replicas_cell(mode: ServiceMode, running: u64) -> String {
    match mode {
        ServiceMode::Replicated { replicas } => format!("{running}/{replicas}"),
        ServiceMode::ReplicatedJob {
            total_completions, ..
        } => format!("{running}/{total_completions}"),
        ServiceMode::Global | ServiceMode::GlobalJob => format!("{running}/0"),
    }
}

/// The image without its digest, as Docker's tables show it.
pub fn image_cell(image: &str) -> String {
    image.split_once('@').map_or(image, |(i, _)| i).to_owned()
}

/// Published ports, Docker style: `*:8080->80/tcp, *:53->53/udp`.
pub fn ports_cell(ports: &[PortConfig]) -> String {
    ports
        .iter()
        .map(|p| {
            if p.published_port == 0 {
                format!("{}/{}", p.target_port, p.protocol)
            } else {
                format!("*:{}->{}/{}", p.published_port, p.target_port, p.protocol)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::{
        ContainerSpec, EndpointSpec, Meta, PublishMode, ServiceId, ServiceSpec, TaskSpec,
    };

    fn service(id: &str, name: &str, mode: ServiceMode, ports: Vec<PortConfig>) -> Service {
        Service {
            id: ServiceId::from(id),
            meta: Meta::default(),
            spec: ServiceSpec {
                name: name.into(),
                mode,
                task_template: TaskSpec {
                    container_spec: ContainerSpec {
                        image: "nginx:1.25@sha256:abcd".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                endpoint_spec: EndpointSpec {
                    ports,
                    ..Default::default()
                },
                ..Default::default()
            },
            previous_spec: None,
            update_status: None,
        }
    }

    fn sample() -> Listing {
        let web = service(
            "svc00000000000000000000001",
            "web",
            ServiceMode::Replicated { replicas: 3 },
            vec![PortConfig {
                protocol: "tcp".into(),
                target_port: 80,
                published_port: 8080,
                publish_mode: PublishMode::Ingress,
            }],
        );
        let agent = service("svc2", "agent", ServiceMode::Global, vec![]);
        let running = BTreeMap::from([("svc00000000000000000000001".to_owned(), 2)]);
        ls_listing(vec![web, agent], &running)
    }

    #[test]
    fn rows() {
        let l = sample();
        assert_eq!(
            l.rows[0],
            vec!["svc2", "agent", "global", "0/0", "nginx:1.25", ""]
        );
        assert_eq!(
            l.rows[1],
            vec![
                "svc000000000",
                "web",
                "replicated",
                "2/3",
                "nginx:1.25",
                "*:8080->80/tcp"
            ]
        );
    }

    #[test]
    fn json_keys_are_exactly_docker_s() {
        let text = sample().render(ListStyle::Json).expect("renders");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let arr = v.as_array().expect("an array");
        assert_eq!(arr.len(), 2);
        let mut keys: Vec<&str> = arr[1]
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec!["id", "image", "mode", "name", "ports", "replicas"]
        );
        assert_eq!(arr[1]["replicas"], "2/3");
        assert_eq!(arr[1]["ports"], "*:8080->80/tcp");
    }

    #[test]
    fn quiet_lists_ids() {
        let text = sample().render(ListStyle::Quiet).expect("renders");
        assert_eq!(text, "svc2\nsvc000000000\n");
    }

    #[test]
    fn ports_and_replicas_cells() {
        assert_eq!(
            replicas_cell(ServiceMode::Replicated { replicas: 0 }, 0),
            "0/0"
        );
        assert_eq!(
            replicas_cell(
                ServiceMode::ReplicatedJob {
                    max_concurrent: 1,
                    total_completions: 5
                },
                1
            ),
            "1/5"
        );
        let ports = vec![
            PortConfig {
                protocol: "tcp".into(),
                target_port: 80,
                published_port: 8080,
                publish_mode: PublishMode::Ingress,
            },
            PortConfig {
                protocol: "udp".into(),
                target_port: 53,
                published_port: 0,
                publish_mode: PublishMode::Host,
            },
        ];
        assert_eq!(ports_cell(&ports), "*:8080->80/tcp, 53/udp");
        assert_eq!(image_cell("busybox"), "busybox");
    }
}
