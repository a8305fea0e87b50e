#!/usr/bin/env bash
# Compiles nemo_relay.h on its own as C11 and as C++17, warnings as errors.
#
# Upstream's header was never compiled by CI and did not build as C++; this
# keeps both languages honest. A tiny translation unit per language also uses
# the enum and a prototype, so the declarations are checked, not just parsed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cat > "$BUILD_DIR/header_use.c" <<'C'
#include "nemo_relay.h"
#include "nemo_relay.h" /* the include guard must make a second include harmless */
int header_use(void);
int header_use(void) {
    NemoRelayStatus status = NEMO_RELAY_STATUS_OK;
    NemoRelayFreeFn free_fn = NULL;
    return (int)status + (free_fn == NULL ? 0 : 1) + (int)sizeof(&nemo_relay_json_normalize);
}
C
cp "$BUILD_DIR/header_use.c" "$BUILD_DIR/header_use.cpp"

flags=(-Wall -Wextra -Werror -pedantic -I"$INCLUDE_DIR" -fsyntax-only)
gcc -std=c11 "${flags[@]}" -x c "$HEADER"
gcc -std=c11 "${flags[@]}" "$BUILD_DIR/header_use.c"
g++ -std=c++17 "${flags[@]}" -x c++ "$HEADER"
g++ -std=c++17 "${flags[@]}" "$BUILD_DIR/header_use.cpp"
echo "header compiles as C11 and C++17 (-Wall -Wextra -Werror -pedantic)"
