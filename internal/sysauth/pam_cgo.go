//go:build cgo && linux

package sysauth

/*
#cgo LDFLAGS: -lpam
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

// conv answers every prompt with the password (appdata): pam_unix asks
// once, with echo off.
static int sysauth_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata) {
	if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
	struct pam_response *r = calloc(n, sizeof(*r));
	if (r == NULL) return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup((const char *)appdata);
			if (r[i].resp == NULL) {
				for (int j = 0; j < i; j++) free(r[j].resp);
				free(r);
				return PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int sysauth_check(const char *service, const char *user, const char *pass) {
	struct pam_conv conv = { sysauth_conv, (void *)pass };
	pam_handle_t *h = NULL;
	int rc = pam_start(service, user, &conv, &h);
	if (rc != PAM_SUCCESS) return rc;
	rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	pam_end(h, rc);
	return rc;
}
*/
import "C"

import (
	"strings"
	"unsafe"
)

func pamAuthenticate(service, user, password string) error {
	// A NUL would cut the string C sees: such a name or password can
	// never be right.
	if strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0) || user == "" {
		return ErrDenied
	}
	cs, cu, cp := C.CString(service), C.CString(user), C.CString(password)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cu))
	defer func() {
		C.memset(unsafe.Pointer(cp), 0, C.size_t(len(password)))
		C.free(unsafe.Pointer(cp))
	}()
	if C.sysauth_check(cs, cu, cp) != C.PAM_SUCCESS {
		return ErrDenied
	}
	return nil
}

const pamAvailable = true
