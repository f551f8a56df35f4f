// Start Swagger UI on the contract the page names. A served file, not an inline script, so
// that the page's policy can allow scripts from our origin only.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // The validator badge would load an image from another host.
    validatorUrl: null,
  });
})();
