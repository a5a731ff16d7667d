//! Pages of the answers that can grow (log entries, checkpoints, consents, the inbox, held
//! deliveries, witness evidence): at most the asked number of items, capped at
//! [`MAX_PAGE`], and, past the first item, at most [`MAX_PAGE_BYTES`] of encoded items
//! (`spec/protocol.md` §11). So an answer fits in a frame however many or however large the
//! items are, and a client pages on until it gets an empty page.

use serde::Serialize;
use streha_wire::app::MAX_PAGE;
use streha_wire::limits::MAX_PAGE_BYTES;

/// A page being filled.
#[derive(Debug)]
pub(crate) struct Page<T> {
    items: Vec<T>,
    bytes: usize,
    limit: usize,
}

/// Counts the bytes of an encoding without keeping them.
struct Count(usize);

impl Extend<u8> for Count {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0 = self.0.saturating_add(bytes.into_iter().count());
    }
}

/// The length of `item`'s postcard encoding.
pub(crate) fn encoded_len<T: Serialize>(item: &T) -> usize {
    // Encoding our own values cannot fail; were it to, the item counts as too large.
    postcard::to_extend(item, Count(0)).map_or(usize::MAX, |count| count.0)
}

impl<T: Serialize> Page<T> {
    /// An empty page of at most `limit` items (capped at [`MAX_PAGE`]).
    pub(crate) fn new(limit: u32) -> Self {
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        Self {
            items: Vec::with_capacity(limit.min(64)),
            bytes: 0,
            limit,
        }
    }

    /// Whether the page holds as many items as asked.
    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.limit
    }

    /// Adds `item` if the page has room for it: fewer items than asked and, unless the page
    /// is empty, no more than [`MAX_PAGE_BYTES`] with it. Returns whether to go on: false
    /// once the page is full or the item did not fit (it is then left for the next page).
    pub(crate) fn offer(&mut self, item: T) -> bool {
        if self.is_full() {
            return false;
        }
        let len = encoded_len(&item);
        if !self.items.is_empty() && self.bytes.saturating_add(len) > MAX_PAGE_BYTES {
            return false;
        }
        self.bytes = self.bytes.saturating_add(len);
        self.items.push(item);
        !self.is_full()
    }

    /// The items.
    pub(crate) fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_stops_at_its_count_or_its_bytes_and_always_takes_one_item() {
        let mut page = Page::new(3);
        assert!(page.offer(vec![0u8; 10]));
        assert!(page.offer(vec![0u8; 10]));
        assert!(!page.offer(vec![0u8; 10]), "full at three");
        assert!(!page.offer(vec![0u8; 10]));
        assert_eq!(page.into_items().len(), 3);

        let mut page = Page::new(MAX_PAGE + 100);
        assert_eq!(page.limit, MAX_PAGE as usize);
        // One item over the byte budget alone still makes a page: paging moves on.
        assert!(page.offer(vec![0u8; MAX_PAGE_BYTES + 1]));
        assert!(!page.offer(vec![0u8; 1]));
        assert_eq!(page.into_items().len(), 1);

        let mut page = Page::new(MAX_PAGE);
        let item = vec![0u8; 64 * 1024];
        let mut taken = 0;
        while page.offer(item.clone()) {
            taken += 1;
        }
        let items = page.into_items();
        assert_eq!(items.len(), taken);
        assert!(items.iter().map(encoded_len).sum::<usize>() <= MAX_PAGE_BYTES);
        assert!(items.len() < MAX_PAGE as usize);
    }

    #[test]
    fn the_count_is_the_encoded_length() {
        let value = (vec![1u8; 300], String::from("abc"), 7u64);
        assert_eq!(
            encoded_len(&value),
            postcard::to_allocvec(&value).unwrap().len()
        );
    }
}
