//! Walking every page of an offset-paged Confluence list (`results` plus `_links.next`, see
//! `client`): the one loop behind reading every username, every email, a user's groups and
//! looking for a group in the group list.

use crate::syncer::Context;
use crate::types::ConnectorError;
use serde::de::DeserializeOwned;
use std::ops::ControlFlow;

/// Reads the list from `first_path` on, handing each page's items to `f`, until the last page or
/// until `f` breaks; the break value, if it did. The first failing request's error ends the walk.
pub fn each_page<T: DeserializeOwned, B>(cx: &Context, first_path: String, mut f: impl FnMut(Vec<T>) -> ControlFlow<B>) -> Result<Option<B>, ConnectorError> {
    let mut path = Some(first_path);
    while let Some(current) = path {
        let page = cx.client.get_page::<T>(&current)?;
        if let ControlFlow::Break(found) = f(page.items) {
            return Ok(Some(found));
        }
        path = page.next;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::kv::MemoryKv;
    use crate::settings::Options;
    use crate::transport::FakeTransport;

    fn page(items: &str, next: Option<&str>) -> crate::transport::Response {
        let next = next.map(|n| format!(r#""next":"{n}""#)).unwrap_or_default();
        FakeTransport::json(200, &format!(r#"{{"results":[{items}],"_links":{{{next}}}}}"#))
    }

    #[test]
    fn a_page_whose_results_or_links_are_null_is_an_empty_last_page() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, r#"{"results":null,"_links":null,"size":0}"#)]);
        let kv = MemoryKv::default();
        let cx = Context { client: Client::new(&fake), kv: &kv, options: Options::default() };
        let mut pages = 0;
        let none = each_page(&cx, "/rest/x?start=0".into(), |items: Vec<u32>| -> ControlFlow<()> {
            pages += 1;
            assert!(items.is_empty());
            ControlFlow::Continue(())
        });
        assert_eq!((none.unwrap(), pages), (None, 1));
    }

    #[test]
    fn walks_every_page_or_stops_at_a_break() {
        let fake = FakeTransport::new(vec![page("1,2", Some("/confluence/rest/x?start=2")), page("3", None), page("1", Some("/rest/x?start=1"))]);
        let kv = MemoryKv::default();
        let cx = Context { client: Client::new(&fake), kv: &kv, options: Options::default() };
        let mut all = Vec::new();
        let none = each_page(&cx, "/rest/x?start=0".into(), |items: Vec<u32>| -> ControlFlow<()> {
            all.extend(items);
            ControlFlow::Continue(())
        });
        assert_eq!(none.unwrap(), None);
        assert_eq!(all, vec![1, 2, 3]);
        let found = each_page(&cx, "/rest/x?start=0".into(), |items: Vec<u32>| match items.contains(&1) {
            true => ControlFlow::Break("one"),
            false => ControlFlow::Continue(()),
        });
        assert_eq!(found.unwrap(), Some("one"));
        assert_eq!(fake.sent_paths(), vec!["/rest/x?start=0", "/rest/x?start=2", "/rest/x?start=0"], "no page after the break");
    }
}
