package accounts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"
)

// Errors of the password and second-factor operations.
var (
	ErrBadCode      = errors.New("the code is wrong or was used already")
	ErrNoEnrolment  = errors.New("no two-factor set-up is in progress: start again")
	ErrNotEnrolled  = errors.New("two-factor sign-in is not set up")
	ErrAlreadyTOTP  = errors.New("two-factor sign-in is already set up")
	errSecretBroken = errors.New("a stored TOTP secret cannot be opened (keys.json changed?)")
)

// ChangePassword sets a user's own password. The current one is required;
// the new one follows the creation rules. Other sessions of the user end
// (keepSID, the one making the change, stays) and a forced change is done.
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next, keepSID string) error {
	var hash string
	if err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	f := map[string]string{}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		f["current_password"] = "This is not your current password."
	}
	if m := checkPassword(next); m != "" {
		f["new_password"] = m
	} else if next == current {
		f["new_password"] = "Choose a password different from the current one."
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return s.setPassword(ctx, id, next, false, keepSID)
}

// ResetPassword gives another user a temporary password, which they must
// change at their next sign-in; their sessions end at once.
func (s *Service) ResetPassword(ctx context.Context, actorID, id int64, temporary string) (User, error) {
	if actorID == id {
		return User{}, ErrSelf
	}
	if m := checkPassword(temporary); m != "" {
		return User{}, &ValidationError{Fields: map[string]string{"password": m}}
	}
	if _, err := s.Get(ctx, id); err != nil {
		return User{}, err
	}
	if err := s.setPassword(ctx, id, temporary, true, ""); err != nil {
		return User{}, err
	}
	return s.Get(ctx, id)
}

func (s *Service) setPassword(ctx context.Context, id int64, password string, mustChange bool, keepSID string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, must_change_password = ?, updated_at = ? WHERE id = ?`,
		string(hash), mustChange, ms(s.now()), id); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	keep := []byte{}
	if keepSID != "" {
		keep = hashID(keepSID)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, id, keep); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return tx.Commit()
}

// totpIssuer names the console in authenticator apps.
const totpIssuer = "Issuer Console"

// StartTOTP begins an enrolment: a new secret is kept (sealed) as pending
// until ConfirmTOTP sees a code made from it.
func (s *Service) StartTOTP(ctx context.Context, u User) (*otp.Key, error) {
	if u.TwoFactor {
		return nil, ErrAlreadyTOTP
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Email})
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	sealed, err := s.seal(key.String())
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET totp_pending = ? WHERE id = ?`, sealed, u.ID); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	return key, nil
}

// PendingTOTP returns the secret of the enrolment in progress.
func (s *Service) PendingTOTP(ctx context.Context, id int64) (*otp.Key, error) {
	var sealed string
	if err := s.db.QueryRowContext(ctx, `SELECT totp_pending FROM users WHERE id = ?`, id).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	if sealed == "" {
		return nil, ErrNoEnrolment
	}
	raw, err := s.open(sealed)
	if err != nil {
		return nil, err
	}
	return otp.NewKeyFromURL(raw)
}

// RecoveryCodes is how many single-use codes an enrolment hands out.
const RecoveryCodes = 10

// ConfirmTOTP ends an enrolment when code comes from the pending secret,
// and returns fresh recovery codes: shown once, stored only hashed.
func (s *Service) ConfirmTOTP(ctx context.Context, id int64, code string) ([]string, error) {
	key, err := s.PendingTOTP(ctx, id)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(key.Secret(), code, s.now(), 0)
	if !ok {
		return nil, ErrBadCode
	}
	codes := make([]string, RecoveryCodes)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = '', totp_last_step = ?, updated_at = ? WHERE id = ?`,
		step, ms(s.now()), id); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, id); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		c := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)) // 16 characters, 80 bits
		codes[i] = c[:8] + "-" + c[8:]
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)`, id, codeHash(id, codes[i])); err != nil {
			return nil, fmt.Errorf("totp: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	return codes, nil
}

// RemoveTOTP turns the second factor off; the password and a current code
// (or a recovery code) are required.
func (s *Service) RemoveTOTP(ctx context.Context, id int64, password, code string) error {
	var hash string
	if err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash); err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	// The code is checked (and so spent) only after the password matched.
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return &ValidationError{Fields: map[string]string{"password": "This is not your current password."}}
	}
	if _, err := s.VerifySecondFactor(ctx, id, code); err != nil {
		return &ValidationError{Fields: map[string]string{"code": "The code is wrong or was used already."}}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = '', totp_pending = '', updated_at = ? WHERE id = ?`, ms(s.now()), id); err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	return tx.Commit()
}

// Second-factor methods, as VerifySecondFactor reports them.
const (
	MethodTOTP     = "authenticator code"
	MethodRecovery = "recovery code"
)

// VerifySecondFactor checks a TOTP code (each accepted once: a code seen
// before is refused) or an unused recovery code, which is then spent.
func (s *Service) VerifySecondFactor(ctx context.Context, id int64, code string) (string, error) {
	code = strings.ToLower(strings.TrimSpace(code))
	if code == "" || len(code) > 32 {
		return "", ErrBadCode
	}
	var sealed string
	var last int64
	if err := s.db.QueryRowContext(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE id = ?`, id).Scan(&sealed, &last); err != nil {
		return "", fmt.Errorf("second factor: %w", err)
	}
	if sealed == "" {
		return "", ErrNotEnrolled
	}
	raw, err := s.open(sealed)
	if err != nil {
		return "", err
	}
	key, err := otp.NewKeyFromURL(raw)
	if err != nil {
		return "", fmt.Errorf("second factor: %w", err)
	}
	if step, ok := matchTOTP(key.Secret(), code, s.now(), last); ok {
		// Spend the step: the same code cannot be replayed.
		res, err := s.db.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
		if err != nil {
			return "", fmt.Errorf("second factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return MethodTOTP, nil
		}
		return "", ErrBadCode
	}
	res, err := s.db.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
		ms(s.now()), id, codeHash(id, code))
	if err != nil {
		return "", fmt.Errorf("second factor: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return MethodRecovery, nil
	}
	return "", ErrBadCode
}

// UnusedRecoveryCodes counts a user's recovery codes not yet used.
func (s *Service) UnusedRecoveryCodes(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, id).Scan(&n)
	return n, err
}

// matchTOTP compares code with the codes of the current 30-second step and
// its neighbours (clock skew), and returns the matching step if it is
// after the last one used.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	step := now.Unix() / 30
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*30, 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step+d > last {
			return step + d, true
		}
	}
	return 0, false
}

func codeHash(userID int64, code string) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", userID, strings.ToLower(code))))
	return h[:]
}

func (s *Service) seal(plain string) (string, error) {
	gcm, err := s.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil)), nil
}

func (s *Service) open(sealed string) (string, error) {
	gcm, err := s.gcm()
	if err != nil {
		return "", err
	}
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < gcm.NonceSize() {
		return "", errSecretBroken
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], nil)
	if err != nil {
		return "", errSecretBroken
	}
	return string(plain), nil
}

func (s *Service) gcm() (cipher.AEAD, error) {
	if len(s.secretKey) != 32 {
		return nil, errors.New("accounts: no key to seal TOTP secrets (Options.SecretKey)")
	}
	b, err := aes.NewCipher(s.secretKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
