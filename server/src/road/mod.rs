//! The roads a push takes to the phone, behind one interface: [`Road`] sends one message
//! to one target and says what the far end answered, as a [`RoadAnswer`] every road
//! shares; [`Roads`] picks the road by the device's target kind.
//!
//! What an answer *means* (delete the device, hold its endpoints, queue for retry, tell
//! the operator) is decided once, above this floor, by the relay's delivery
//! (`relay::deliver`), for the live push and the retry worker alike. A road only
//! classifies its far end's answers into the shared type; it never touches the store.
//!
//! Roads today: [`fcm::FcmRoad`] (FCM HTTP v1, `message.token` or `message.fid`) and
//! [`webpush::WebPushRoad`] (Google's Web Push service, no Firebase project).

pub mod fcm;
mod interface;
pub mod webpush;

use std::sync::Arc;

pub use self::interface::{Message, Road, RoadAnswer, RoadError};
use crate::store::Route;
use crate::target::RoadKind;

/// Every road this relay offers, chosen per push by the device's target.
pub struct Roads {
    fcm: fcm::FcmRoad,
    webpush: Option<Arc<webpush::WebPushRoad>>,
}

impl Roads {
    /// The roads: FCM v1 always (sandbox mode runs it against the emulator), Web Push when
    /// `[webpush]` offers it.
    pub fn new(fcm: fcm::FcmRoad, webpush: Option<Arc<webpush::WebPushRoad>>) -> Roads {
        Roads { fcm, webpush }
    }

    /// Whether this relay can deliver to targets of `road`.
    pub fn offers(&self, road: RoadKind) -> bool {
        match road {
            RoadKind::Fcm => true,
            RoadKind::WebPush => self.webpush.is_some(),
        }
    }

    /// Send through the road of the route's target.
    pub async fn send(&self, route: &Route, message: Message<'_>) -> RoadAnswer {
        match route.target.road() {
            RoadKind::Fcm => self.fcm.send(route, message).await,
            RoadKind::WebPush => match &self.webpush {
                Some(road) => road.send(route, message).await,
                None => {
                    crate::metrics::hot().road_request(RoadKind::WebPush, "road_not_offered");
                    RoadAnswer::OurFault(RoadError::NotOffered(RoadKind::WebPush))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeviceId, MessageId};
    use crate::target::{Target, WebPushSubscription};
    use crate::webpush::Urgency;

    /// Where the Web Push road is not configured (`[webpush] enabled = false`), a Web Push
    /// target gets a clear "our fault" answer naming the missing road: no panic, no request,
    /// never "device gone".
    #[tokio::test]
    async fn a_target_of_a_road_not_offered_is_our_fault() {
        let client = crate::fcm::FcmClient::new(&crate::fcm::FcmConfig::default(), Vec::new()).await.unwrap();
        let roads = Roads::new(fcm::FcmRoad::new(std::sync::Arc::new(client), Urgency::High), None);
        assert!(roads.offers(RoadKind::Fcm));
        assert!(!roads.offers(RoadKind::WebPush));
        let subscription = WebPushSubscription::from_parts("tok".into(), &[4; 65], &[0; 16]).unwrap();
        let route = Route {
            device: DeviceId::generate(),
            instance: "i".into(),
            vapid: None,
            project: "p".into(),
            target: Target::WebPush(subscription),
        };
        let id = MessageId::generate();
        let message = Message { id: &id, body: b"x", urgency: Urgency::Normal, ttl_secs: 60, topic: None };
        let answer = roads.send(&route, message).await;
        assert!(matches!(answer, RoadAnswer::OurFault(RoadError::NotOffered(RoadKind::WebPush))), "{answer:?}");
    }
}
