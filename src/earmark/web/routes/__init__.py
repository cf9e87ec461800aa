"""One router per resource; :data:`earmark.web.app.ROUTERS` lists the modules the app
includes."""
