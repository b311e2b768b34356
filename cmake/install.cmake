# cmake/install.cmake — what `cmake --install` (and `make install`) puts
# where, relative to CMAKE_INSTALL_PREFIX (default /usr/local):
#
#   bin/quantd                            the binary (server/CMakeLists.txt)
#   SYSCONFDIR/quantd/quantd.conf         config; an existing one is kept
#   SYSCONFDIR/quantd/quantd.conf.dist    the shipped config, always
#   lib/systemd/system/quantd.service     the hardened unit (QD_SYSTEMD_UNITDIR)
#   share/man/man1/quantd.1               the manual
#   share/doc/quantd/                     operations guide, API, report schema
#
# SYSCONFDIR is /usr/local/etc for the default prefix and /etc for /usr.
# DESTDIR stages an install: DESTDIR=/tmp/stage cmake --install build.
include_guard(GLOBAL)

set(QD_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "where systemd units go, relative to CMAKE_INSTALL_PREFIX (or absolute)")

# The checked-in unit names the default-prefix paths; rewrite them for this
# prefix so the installed unit runs the installed binary and config.
set(_qd_unit_src "${PROJECT_SOURCE_DIR}/systemd/quantd.service")
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${_qd_unit_src}")
file(READ "${_qd_unit_src}" _qd_unit)
string(REPLACE "/usr/local/bin/quantd" "${CMAKE_INSTALL_FULL_BINDIR}/quantd" _qd_unit "${_qd_unit}")
string(REPLACE "/usr/local/etc/quantd" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/quantd" _qd_unit "${_qd_unit}")
string(REPLACE "/usr/local/share/doc/quantd" "${CMAKE_INSTALL_FULL_DOCDIR}" _qd_unit "${_qd_unit}")
file(CONFIGURE OUTPUT "${PROJECT_BINARY_DIR}/systemd/quantd.service" CONTENT "${_qd_unit}"
     @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/systemd/quantd.service"
        DESTINATION "${QD_SYSTEMD_UNITDIR}" COMPONENT daemon)

# quantd.conf is the operator's file: install it only when there is none,
# so a reinstall never drops local edits; quantd.conf.dist is always fresh.
install(FILES "${PROJECT_SOURCE_DIR}/config/quantd.conf"
        DESTINATION "${CMAKE_INSTALL_SYSCONFDIR}/quantd" RENAME quantd.conf.dist
        COMPONENT daemon)
install(CODE "
  set(_qd_conf \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_SYSCONFDIR}/quantd/quantd.conf\")
  if(EXISTS \"\${_qd_conf}\")
    message(STATUS \"Keeping: \${_qd_conf}\")
  else()
    file(INSTALL DESTINATION \"${CMAKE_INSTALL_FULL_SYSCONFDIR}/quantd\" TYPE FILE
         FILES \"${PROJECT_SOURCE_DIR}/config/quantd.conf\")
  endif()" COMPONENT daemon)

install(FILES "${PROJECT_SOURCE_DIR}/docs/quantd.1"
        DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT daemon)

set(_qd_docs "")
foreach(_f docs/operations.md docs/api.md docs/report.md api/openapi.yaml)
  if(EXISTS "${PROJECT_SOURCE_DIR}/${_f}")
    list(APPEND _qd_docs "${PROJECT_SOURCE_DIR}/${_f}")
  endif()
endforeach()
install(FILES ${_qd_docs} DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT daemon)
