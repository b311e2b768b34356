# cmake/install.cmake — what `cmake --install` (and `make install`) puts
# where, for the prefix given at configure time or to `cmake --install
# --prefix` (default /usr/local):
#
#   PREFIX/bin/quantd                         the binary (server/CMakeLists.txt)
#   SYSCONFDIR/quantd/quantd.conf             the config; an existing one is kept
#   SYSCONFDIR/quantd/quantd.conf.dist        the shipped config, always refreshed
#   PREFIX/lib/systemd/system/quantd.service  the hardened unit (QD_SYSTEMD_UNITDIR)
#   PREFIX/lib/systemd/system/quantd.socket   optional socket activation
#   PREFIX/share/man/man1/quantd.1            the manual
#   PREFIX/share/doc/quantd/                  operations guide, API, report schema
#
# SYSCONFDIR follows GNUInstallDirs: /etc for the prefix /usr, /etc/opt/...
# for /opt/..., PREFIX/etc otherwise (so /usr/local/etc by default).
# DESTDIR stages an install: DESTDIR=/tmp/stage cmake --install build.
include_guard(GLOBAL)

set(QD_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "where systemd units go, relative to the install prefix (or absolute)")

# The unit and the config need absolute paths of the final prefix, which
# `cmake --install --prefix` may change after configuration: a script run
# at install time resolves them (cmake/install_units.cmake).
install(CODE "
  set(QD_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(QD_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
  set(QD_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(QD_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
  set(QD_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  set(QD_SYSTEMD_UNITDIR \"${QD_SYSTEMD_UNITDIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_units.cmake\")" COMPONENT daemon)

install(FILES "${PROJECT_SOURCE_DIR}/docs/quantd.1"
        DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT daemon)

set(_qd_docs "")
foreach(_f docs/operations.md docs/api.md docs/api-examples.md docs/report.md api/openapi.yaml)
  if(EXISTS "${PROJECT_SOURCE_DIR}/${_f}")
    list(APPEND _qd_docs "${PROJECT_SOURCE_DIR}/${_f}")
  endif()
endforeach()
install(FILES ${_qd_docs} DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT daemon)
