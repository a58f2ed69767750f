//! The FCM HTTP v1 road: a data message (two for a body too large for one) to the
//! device's registration token (`message.token`) or Firebase Installation ID
//! (`message.fid`), through the operator's Firebase project. FCM answers the same for
//! both kinds of target, so one classification serves both.

use std::sync::Arc;

use super::interface::{Message, Road, RoadAnswer, RoadError};
use crate::fcm::message::{Outgoing, Priority, Recipient};
use crate::fcm::{ErrorClass, FcmClient, FcmError};
use crate::store::Route;
use crate::target::{RoadKind, Target};
use crate::webpush::Urgency;

/// Sends through [`FcmClient`].
pub struct FcmRoad {
    client: Arc<FcmClient>,
    high_priority_from: Urgency,
}

impl FcmRoad {
    /// The road over `client`; pushes of `high_priority_from` urgency or above go with
    /// Android priority HIGH.
    pub fn new(client: Arc<FcmClient>, high_priority_from: Urgency) -> FcmRoad {
        FcmRoad { client, high_priority_from }
    }

    async fn send_parts(&self, route: &Route, recipient: Recipient<'_>, msg: Message<'_>) -> Result<(), FcmError> {
        let priority = if msg.urgency >= self.high_priority_from { Priority::High } else { Priority::Normal };
        let outgoing = Outgoing {
            recipient,
            instance: &route.instance,
            message_id: msg.id.as_str(),
            body: msg.body,
            priority,
            ttl_secs: msg.ttl_secs,
            collapse_key: msg.topic,
        };
        for part in outgoing.encode() {
            let result = self.client.send(&route.project, part).await;
            let label = match &result {
                Ok(_) => "ok",
                Err(e) => e.label(),
            };
            crate::metrics::hot().road_request(RoadKind::Fcm, label);
            result?;
        }
        Ok(())
    }
}

impl Road for FcmRoad {
    const KIND: RoadKind = RoadKind::Fcm;

    async fn send(&self, route: &Route, msg: Message<'_>) -> RoadAnswer {
        let recipient = match &route.target {
            Target::FcmToken(token) => Recipient::Token(token),
            Target::FcmFid(fid) => Recipient::Fid(fid.as_str()),
            Target::WebPush(_) => {
                return RoadAnswer::OurFault(RoadError::NotOffered(RoadKind::WebPush));
            }
        };
        match self.send_parts(route, recipient, msg).await {
            Ok(()) => RoadAnswer::Delivered,
            Err(e) => answer(e),
        }
    }
}

/// FCM's error, in the shared terms.
fn answer(e: FcmError) -> RoadAnswer {
    match e.class() {
        ErrorClass::DeadToken => RoadAnswer::DeviceGone(e.into()),
        ErrorClass::Throttled(after) => RoadAnswer::Throttled(after, e.into()),
        ErrorClass::Transient(after) => RoadAnswer::Transient(after, e.into()),
        ErrorClass::OurFault => RoadAnswer::OurFault(e.into()),
        ErrorClass::BadMessage => RoadAnswer::BadMessage(e.into()),
    }
}
