//go:build cgo && linux

package sysauth

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// libpam is opened at run time, not linked: the build then needs no PAM
// headers or development library (a fresh machine with a C compiler builds
// sockd with only Go), and a host without libpam.so.0 refuses host
// accounts at start rather than failing to run the daemon. The types and
// constants below are Linux-PAM's stable ABI (_pam_types.h).
#define SYSAUTH_PAM_SUCCESS 0
#define SYSAUTH_PAM_SYSTEM_ERR 4
#define SYSAUTH_PAM_BUF_ERR 5
#define SYSAUTH_PAM_CONV_ERR 19
#define SYSAUTH_PAM_SILENT 0x8000U
#define SYSAUTH_PAM_DISALLOW_NULL_AUTHTOK 0x0001U
#define SYSAUTH_PAM_PROMPT_ECHO_OFF 1
#define SYSAUTH_PAM_PROMPT_ECHO_ON 2
#define SYSAUTH_PAM_MAX_NUM_MSG 32

struct sysauth_pam_message { int msg_style; const char *msg; };
struct sysauth_pam_response { char *resp; int resp_retcode; };
struct sysauth_pam_conv {
	int (*conv)(int, const struct sysauth_pam_message **, struct sysauth_pam_response **, void *);
	void *appdata_ptr;
};

static int (*p_start)(const char *, const char *, const struct sysauth_pam_conv *, void **);
static int (*p_authenticate)(void *, int);
static int (*p_acct_mgmt)(void *, int);
static int (*p_end)(void *, int);

// sysauth_open loads libpam once; it answers 0 when every function is there.
static int sysauth_open(void) {
	if (p_start != NULL) return 0;
	void *lib = dlopen("libpam.so.0", RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) return -1;
	void *s = dlsym(lib, "pam_start"), *a = dlsym(lib, "pam_authenticate");
	void *m = dlsym(lib, "pam_acct_mgmt"), *e = dlsym(lib, "pam_end");
	if (s == NULL || a == NULL || m == NULL || e == NULL) return -1;
	p_authenticate = a; p_acct_mgmt = m; p_end = e;
	p_start = s;
	return 0;
}

// conv answers every prompt with the password (appdata): pam_unix asks
// once, with echo off.
static int sysauth_conv(int n, const struct sysauth_pam_message **msg, struct sysauth_pam_response **resp, void *appdata) {
	if (n <= 0 || n > SYSAUTH_PAM_MAX_NUM_MSG) return SYSAUTH_PAM_CONV_ERR;
	struct sysauth_pam_response *r = calloc(n, sizeof(*r));
	if (r == NULL) return SYSAUTH_PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == SYSAUTH_PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == SYSAUTH_PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup((const char *)appdata);
			if (r[i].resp == NULL) {
				for (int j = 0; j < i; j++) free(r[j].resp);
				free(r);
				return SYSAUTH_PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return SYSAUTH_PAM_SUCCESS;
}

static int sysauth_check(const char *service, const char *user, const char *pass) {
	if (p_start == NULL) return SYSAUTH_PAM_SYSTEM_ERR;
	struct sysauth_pam_conv conv = { sysauth_conv, (void *)pass };
	void *h = NULL;
	int rc = p_start(service, user, &conv, &h);
	if (rc != SYSAUTH_PAM_SUCCESS) return rc;
	int flags = SYSAUTH_PAM_SILENT | SYSAUTH_PAM_DISALLOW_NULL_AUTHTOK;
	rc = p_authenticate(h, flags);
	if (rc == SYSAUTH_PAM_SUCCESS) rc = p_acct_mgmt(h, flags);
	p_end(h, rc);
	return rc;
}
*/
import "C"

import (
	"errors"
	"strings"
	"sync"
	"unsafe"
)

func pamAuthenticate(service, user, password string) error {
	// A NUL would cut the string C sees: such a name or password can
	// never be right.
	if strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0) || user == "" {
		return ErrDenied
	}
	if !pamAvailable() {
		return errors.New("host accounts need PAM: libpam.so.0 could not be loaded")
	}
	cs, cu, cp := C.CString(service), C.CString(user), C.CString(password)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cu))
	defer func() {
		C.memset(unsafe.Pointer(cp), 0, C.size_t(len(password)))
		C.free(unsafe.Pointer(cp))
	}()
	if C.sysauth_check(cs, cu, cp) != C.SYSAUTH_PAM_SUCCESS {
		return ErrDenied
	}
	return nil
}

// pamAvailable loads libpam.so.0 at the first call, not at every start
// of a daemon that may never use it, and reports whether it could.
var pamAvailable = sync.OnceValue(func() bool { return C.sysauth_open() == 0 })
