"""``earmark serve``: the local web app over the catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from earmark.cli.app import EXIT_USAGE, DbOption, app, console, fail, require_catalog


@app.command("serve")
def serve_command(
    db: DbOption = None,
    host: Annotated[str, typer.Option(
        help="Address to listen on. Anything but loopback (127.0.0.1, ::1, localhost) needs "
             "the access token printed at start.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535,
                                      help="Port to listen on; 0 takes a free one.")] = 0,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the app in the browser.")
                            ] = False,
) -> None:
    """Serve the web app (library, song pages, review, tags, map, dashboard) until Ctrl-C."""
    # Here, not at the top: FastAPI costs every other command half a second of start-up.
    from earmark.web import Address, serve

    def announce(address: Address) -> None:
        console.print(f"earmark is serving {address.url}  (Ctrl-C stops it)", highlight=False,
                      soft_wrap=True)
        if address.token is not None:
            console.print(f"access token: {address.token}  (the page asks for it once)",
                          highlight=False, soft_wrap=True)

    require_catalog(db)
    try:
        serve(db, host=host, port=port, open_browser=open_browser, announce=announce)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)
