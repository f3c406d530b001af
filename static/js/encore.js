// Small behaviour shared by the Library and Jobs pages (loaded after htmx, deferred).

// htmx leaves 4xx answers unswapped by default. Encore's views answer a refusal
// with the fragment that explains it (the row with its error, an inline message
// under a form), so those are swapped like any answer. 5xx stay unswapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status >= 400 && status < 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// A form marked data-reset-on-success is emptied once its request succeeded.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form instanceof HTMLFormElement && "resetOnSuccess" in form.dataset && event.detail.xhr.status < 300) {
    form.reset();
  }
});
