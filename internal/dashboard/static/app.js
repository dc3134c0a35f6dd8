// ferry dashboard: the little the pages need beyond htmx.
// Checkboxes "select all" for bulk actions on the queue page.
document.addEventListener("change", function (e) {
  var t = e.target;
  if (t && t.matches("input[data-select-all]")) {
    var form = t.closest("form");
    form.querySelectorAll("input[name=id]").forEach(function (c) { c.checked = t.checked; });
  }
});
// Show errors of htmx requests in the flash area instead of failing silently.
document.addEventListener("htmx:responseError", function (e) {
  var flash = document.getElementById("flash");
  if (flash && e.detail.xhr && !e.detail.xhr.getResponseHeader("HX-Retarget")) {
    flash.textContent = "The server answered " + e.detail.xhr.status + ": " + (e.detail.xhr.statusText || "error");
  }
});
// Swap error answers too: the server retargets them to the flash area
// (HX-Retarget), so a refused action says why where the user looks.
if (window.htmx) {
  htmx.config.responseHandling = [
    {code: "204", swap: false},
    {code: "[23]..", swap: true},
    {code: "[45]..", swap: true, error: true},
  ];
}
