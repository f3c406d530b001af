// The party pages (singer and host): the newest fragment wins, and the host's drag and drop.

// Every fragment of a room carries the room version it was drawn from (data-version).
// Pushes can arrive out of order (two changes commit at once in two processes, or an
// HTTP answer lands after the push of a later change), so a fragment older than the
// one on the page is dropped. Per fragment, not per page: a late queue.changed must
// still replace the queue even if a newer room.changed already updated the header.
// (Comparing here rather than in the consumer: only the page knows what it shows.)
document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const current = event.detail.target;
  const incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
  if (!current || !incoming || !("version" in current.dataset) || !("version" in incoming.dataset)) return;
  if (Number(incoming.dataset.version) < Number(current.dataset.version)) {
    event.detail.shouldSwap = false;
    return;
  }
  // The host is dragging an entry: replacing the list now would pull it from under the
  // pointer. Keep the newest copy and swap it in when the drag ends.
  if (current.querySelector(".sortable-chosen")) {
    current._pendingSwap = incoming.outerHTML;
    event.detail.shouldSwap = false;
  }
});

function partySortable(list) {
  if (list._sortable || typeof Sortable === "undefined") return;
  list._sortable = Sortable.create(list, {
    handle: ".drag-handle",
    draggable: ".queue-entry",
    animation: 120,
    onEnd(event) {
      const section = list.closest("[data-version]");
      const moved = event.oldDraggableIndex !== event.newDraggableIndex;
      if (moved) {
        // The answer is the host's queue as the server now orders it.
        htmx.ajax("POST", list.dataset.moveUrl, {
          target: list.dataset.target,
          swap: "outerHTML",
          source: list,
          values: { entry: event.item.dataset.entryId, position: event.newDraggableIndex },
        });
      } else if (section && section._pendingSwap) {
        htmx.swap(section, section._pendingSwap, { swapStyle: "outerHTML" });
      }
    },
  });
}

htmx.onLoad((root) => {
  const lists = root.matches && root.matches("ol.sortable") ? [root] : root.querySelectorAll("ol.sortable");
  lists.forEach(partySortable);
});
