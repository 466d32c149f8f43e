//! The registration service as the console calls it: one channel for the
//! process, and each call made with the signed-in clerk's own token, so
//! registration authorises every action as the clerk's.

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vrs_kit::tls::TlsConfig;
use vrs_kit::token::Bearer;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::error::Problem;
use crate::session::Session;

pub type Client = RegistrationServiceClient<InterceptedService<Channel, Bearer>>;

pub struct Registry {
    channel: Channel,
}

impl Registry {
    /// Prepares the channel (connected lazily: the console starts, and says
    /// so on its pages, while registration is away).
    pub fn new(url: &str, tls: &TlsConfig) -> anyhow::Result<Registry> {
        let channel = tls
            .endpoint(url)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .connect_lazy();
        Ok(Registry { channel })
    }

    /// A client that acts as the session's clerk.
    pub fn as_clerk(&self, s: &Session) -> Result<Client, Problem> {
        let bearer = Bearer::new(&s.token).map_err(|_| Problem::SignIn)?;
        Ok(RegistrationServiceClient::with_interceptor(
            self.channel.clone(),
            bearer,
        ))
    }

    /// The dossier as a clerk sees it: the application beside the agencies' records.
    pub async fn inspect(&self, s: &Session, id: &str) -> Result<pb::InspectApplicationResponse, Problem> {
        Ok(self
            .as_clerk(s)?
            .inspect_application(pb::InspectApplicationRequest {
                application_id: id.to_owned(),
            })
            .await?
            .into_inner())
    }

    /// Whether registration answers at all (its public checkpoint call needs no token).
    pub async fn ping(&self) -> Result<(), String> {
        let mut c = TransparencyLogServiceClient::new(self.channel.clone());
        let mut req = tonic::Request::new(pb::GetCheckpointRequest {});
        req.set_timeout(Duration::from_secs(3));
        match c.get_checkpoint(req).await {
            // No checkpoint yet (an empty log) still means it answers.
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound || s.code() == tonic::Code::FailedPrecondition => Ok(()),
            Err(s) => Err(s.message().to_owned()),
        }
    }
}
