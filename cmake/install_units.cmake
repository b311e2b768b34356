# cmake/install_units.cmake — run by `cmake --install` (see install.cmake):
# installs the systemd units (the service with the paths of this prefix,
# the socket as it is), and quantd.conf
# unless the operator already has one. Expects QD_SOURCE_DIR, QD_BINARY_DIR,
# QD_BINDIR, QD_SYSCONFDIR, QD_DOCDIR, QD_SYSTEMD_UNITDIR; CMAKE_INSTALL_PREFIX
# is the final prefix. file(INSTALL) prepends $DESTDIR itself.

# An install directory, absolute: as given, or under the prefix.
function(_qd_abs out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

string(REGEX REPLACE "/+$" "" _prefix "${CMAKE_INSTALL_PREFIX}")
_qd_abs(_bindir "${QD_BINDIR}")
_qd_abs(_docdir "${QD_DOCDIR}")
_qd_abs(_unitdir "${QD_SYSTEMD_UNITDIR}")
# GNUInstallDirs' special cases for etc/.
if(IS_ABSOLUTE "${QD_SYSCONFDIR}")
  set(_etc "${QD_SYSCONFDIR}")
elseif(_prefix STREQUAL "/usr" OR _prefix STREQUAL "")
  set(_etc "/etc")
elseif(_prefix MATCHES "^/opt/")
  set(_etc "/etc${_prefix}")
else()
  set(_etc "${_prefix}/${QD_SYSCONFDIR}")
endif()

# The checked-in unit names the /usr/local paths.
file(READ "${QD_SOURCE_DIR}/systemd/quantd.service" _unit)
string(REPLACE "/usr/local/bin/quantd" "${_bindir}/quantd" _unit "${_unit}")
string(REPLACE "/usr/local/etc/quantd" "${_etc}/quantd" _unit "${_unit}")
string(REPLACE "/usr/local/share/doc/quantd" "${_docdir}" _unit "${_unit}")
file(WRITE "${QD_BINARY_DIR}/install/quantd.service" "${_unit}")
file(INSTALL DESTINATION "${_unitdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ FILES "${QD_BINARY_DIR}/install/quantd.service"
     "${QD_SOURCE_DIR}/systemd/quantd.socket")

# quantd.conf is the operator's file: a reinstall never replaces it;
# quantd.conf.dist is the shipped one, for comparison.
file(INSTALL DESTINATION "${_etc}/quantd" TYPE FILE RENAME quantd.conf.dist
     FILES "${QD_SOURCE_DIR}/config/quantd.conf")
if(EXISTS "$ENV{DESTDIR}${_etc}/quantd/quantd.conf")
  message(STATUS "Keeping: $ENV{DESTDIR}${_etc}/quantd/quantd.conf")
else()
  file(INSTALL DESTINATION "${_etc}/quantd" TYPE FILE
       FILES "${QD_SOURCE_DIR}/config/quantd.conf")
endif()
