// Two routes, on the History API. Unknown paths count as "/", which sends signed-out users on to /login.
export type Route = "/" | "/login";

export function currentRoute(): Route {
  return location.pathname === "/login" ? "/login" : "/";
}

let render: (route: Route) => void = () => {};

/** Installs the renderer and follows back/forward. */
export function startRouter(renderer: (route: Route) => void): void {
  render = renderer;
  addEventListener("popstate", () => render(currentRoute()));
}

/** Goes to `route` (a new history entry unless `replace`) and renders it. */
export function navigate(route: Route, { replace = false } = {}): void {
  if (location.pathname !== route || location.search !== "") {
    if (replace) history.replaceState(null, "", route);
    else history.pushState(null, "", route);
  }
  render(route);
}
