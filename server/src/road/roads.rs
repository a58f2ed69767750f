//! Every road this relay offers, in one value the relay delivers through: the device's
//! target kind picks the road, with a `match` (no boxed future per push).
//!
//! Apart from the roads' shared types (`road/mod.rs`) so that the roads, which import
//! those types, are not imported back by the module that holds them.

use std::fmt;
use std::sync::Arc;

use super::fcm::FcmRoad;
use super::webpush::WebPushRoad;
use super::{Message, Road, RoadAnswer, RoadError};
use crate::store::Route;
use crate::target::RoadKind;

/// Every road this relay offers, chosen per push by the device's target.
pub struct Roads {
    fcm: FcmRoad,
    webpush: Option<Arc<WebPushRoad>>,
}

impl Roads {
    /// The roads: FCM v1 always (sandbox mode runs it against the emulator), Web Push when
    /// `[webpush]` offers it.
    pub fn new(fcm: FcmRoad, webpush: Option<Arc<WebPushRoad>>) -> Roads {
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

impl fmt::Debug for Roads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offered: Vec<_> = RoadKind::ALL.into_iter().filter(|r| self.offers(*r)).map(RoadKind::label).collect();
        f.debug_struct("Roads").field("offered", &offered).finish()
    }
}
